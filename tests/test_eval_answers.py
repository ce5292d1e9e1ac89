"""``paperbot eval answers``: the harness, the shipped question file, and the targets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.errors import InputError
from bot.evaluation.answers import abstention_sweep, evaluate_answers, load_questions
from tests.conftest import ROOT

PAPERBOT = shutil.which("paperbot", path=str(Path(sys.executable).parent)) or "paperbot"
QUESTIONS = ROOT / "data" / "questions.jsonl"


def test_load_questions_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_questions(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine?", "expect": ["x"]}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2"):
        load_questions(bad)
    bad.write_text('{"q": "no expectation?"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="needs 'expect'"):
        load_questions(bad)
    bad.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no questions"):
        load_questions(bad)


def test_shipped_question_file_matches_the_sample_corpus(seed_bot: PaperBot) -> None:
    questions = load_questions(QUESTIONS)
    answerable = [q for q in questions if not q.unanswerable]
    unanswerable = [q for q in questions if q.unanswerable]
    assert len(answerable) >= 40 and len(unanswerable) >= 20
    titles = [p.title.lower() for p in seed_bot.papers()]
    for q in answerable:
        for expected in q.expect:
            assert any(expected.lower() in t for t in titles), expected
    assert all(not q.expect for q in unanswerable)
    assert len({q.q for q in questions}) == len(questions)


def test_targets_on_the_sample_corpus(seed_bot: PaperBot) -> None:
    """Every third question of the shipped file (a third of the run time): abstention and
    citation targets of the product, extractive mode."""
    questions = load_questions(QUESTIONS)[::3]
    report = evaluate_answers(seed_bot, questions, k=5)
    s = report.summary()
    assert s["unanswerable"] >= 6
    assert s["abstention_unanswerable"] >= 0.95
    assert s["wrong_abstention"] <= 0.10
    assert s["non_retrieved_citations"] == 0
    assert s["hit@5"] >= 0.9 and s["cited_expected"] >= 0.8
    assert s["verified"]["supported"] == s["verified"]["total"] > 0  # verbatim quotes
    assert s["modes"] == ["extractive/none"]
    shown = sum(not r.abstained for r in report.results)
    assert s["answered_by"] == {"extractive/none": shown}
    for r in report.results:
        assert r.citations == 0 if r.abstained else r.citations > 0
    data = report.to_dict()
    assert len(data["results"]) == len(questions) and data["mean_latency_ms"] > 0


def test_abstention_sweep_is_monotonic(seed_bot: PaperBot) -> None:
    questions = load_questions(QUESTIONS)[1::6]
    best, rows = abstention_sweep(seed_bot, questions, thresholds=[0.2, 0.44, 0.9])
    assert len(best) == len(questions) and all(0.0 <= b <= 1.0 for b in best)
    assert [r.threshold for r in rows] == [0.2, 0.44, 0.9]
    assert rows[0].wrong_abstention <= rows[1].wrong_abstention <= rows[2].wrong_abstention
    assert rows[2].abstention_unanswerable == 1.0


def test_cli_eval_answers_json(isolated_env: Path, seed_bot: PaperBot) -> None:
    papers = [p for p in seed_bot.papers() if "Grokking as the Transition" in p.title]
    papers += [p for p in seed_bot.papers() if p.title.startswith("Merging Models")]
    source = isolated_env / "two.jsonl"
    source.write_text(
        "\n".join(json.dumps({"title": p.title, "abstract": p.abstract}) for p in papers) + "\n",
        encoding="utf-8",
    )
    qfile = isolated_env / "q.jsonl"
    qfile.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"q": "Why does grokking happen in neural networks?", "expect": ["Grokking"]},
                {"q": "How can models be merged with Fisher information?", "expect": ["Merging"]},
                {"q": "What is the boiling point of ethanol?", "unanswerable": True},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PAPERBOT_LLM_MODE": "extractive"}
    r = subprocess.run([PAPERBOT, "ingest", str(source), "--json"], capture_output=True,
                       text=True, timeout=600, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [PAPERBOT, "eval", "answers", "--questions", str(qfile), "--json", "--sweep"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["questions"] == 3 and data["answerable"] == 2
    assert data["hit@5"] == 1.0
    assert data["abstention_unanswerable"] == 1.0 and data["wrong_abstention"] == 0.0
    assert data["non_retrieved_citations"] == 0
    assert data["modes"] == ["extractive/none"]
    assert data["sweep"] and data["abstain_threshold"] == pytest.approx(0.44)
    r = subprocess.run(
        [PAPERBOT, "eval", "answers", "--questions", str(isolated_env / "missing.jsonl")],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr
