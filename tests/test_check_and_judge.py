"""Model-written text that survives verification (a scripted model over the real OpenAI
protocol), the LLM judge (PAPERBOT_VERIFY=llm|both) against scripted verdicts, and checking
your own text (PaperBot.check, ``paperbot check``, POST /api/check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.api import PaperBot
from bot.errors import ConfigError
from bot.ground.judge import LLMJudge, parse_verdict
from bot.ground.verify import Verifier
from bot.index.embeddings import LocalEmbedder
from bot.llm.providers import make_llm
from bot.server.app import create_app
from tests.conftest import cli_env, make_settings
from tests.faultserver import FaultServer

GROKKING_ID = "t-83498b282a9ef462"
QUESTION = "How does grokking relate to lazy and rich training dynamics?"
# a faithful rewording of the grokking abstract, and one sentence it does not support
REWORDED = (
    "Grokking can happen when a network moves from lazy training dynamics to a rich, "
    "feature-learning regime [1]."
)
UNSUPPORTED = "The authors trained a billion-parameter language model on web text [1]."


def _openai_bot(home: Path, embedder: LocalEmbedder, url: str, **extra: Any) -> PaperBot:
    settings = make_settings(
        home, llm_mode="openai", openai_base_url=url, openai_api_key="sk-test",
        llm_timeout=10, **extra,
    )  # fmt: skip
    return PaperBot(settings, embedder=embedder, llm=make_llm(settings))


def test_model_text_survives_verification(seed_home: Path, embedder: LocalEmbedder) -> None:
    with FaultServer(replies=[f"{REWORDED} {UNSUPPORTED}"]) as server:
        bot = _openai_bot(seed_home, embedder, server.url)
        answer = bot.ask(QUESTION, k=3)
    assert answer.mode == "openai" and answer.fallback_from is None, answer.to_dict()
    assert answer.answer.startswith("Grokking can happen when a network moves from lazy")
    assert "billion-parameter" not in answer.answer
    assert (answer.supported, answer.total) == (1, 2)
    assert any("1 unsupported sentence(s) removed" in n for n in answer.notes)
    (citation,) = answer.citations
    assert citation.paper_id == GROKKING_ID
    assert bot.paper(GROKKING_ID).text[citation.start : citation.end] == citation.quote


def test_all_unsupported_model_text_falls_back_to_quotes(
    seed_home: Path, embedder: LocalEmbedder
) -> None:
    with FaultServer(replies=[UNSUPPORTED]) as server:
        answer = _openai_bot(seed_home, embedder, server.url).ask(QUESTION, k=3)
    assert answer.mode == "extractive" and answer.fallback_from == "openai"
    assert "billion-parameter" not in answer.answer and answer.citations


def test_parse_verdict_is_strict() -> None:
    assert parse_verdict('{"verdict": "supported", "reason": "same finding"}').supported
    assert parse_verdict('```json\n{"verdict": "contradicted"}\n```').verdict == "contradicted"
    for bad in ("supported", '{"verdict": "yes"}', '{"verdict": "supported"} extra', "[]", ""):
        verdict = parse_verdict(bad)
        assert verdict.verdict == "unsupported" and not verdict.valid, bad


SENTENCES = [
    "Daily aspirin reduced the incidence of colorectal cancer by 24%.",
    "Gastrointestinal bleeding was more common in the aspirin group.",
]
FAITHFUL = "Daily aspirin reduced colorectal cancer incidence by 24%."  # the verifier accepts it


def _judged(url: str, home: Path, mode: str, embedder: LocalEmbedder) -> Verifier:
    settings = make_settings(
        home, llm_mode="openai", openai_base_url=url, openai_api_key="sk-test", llm_timeout=10,
        llm_max_retries=0,
    )  # fmt: skip
    llm = make_llm(settings)
    assert llm is not None
    return Verifier(embedder, judge=LLMJudge(llm), mode=mode)  # as PaperBot builds it


@pytest.mark.parametrize(
    ("mode", "reply", "supported", "verdict"),
    [
        ("both", '{"verdict": "supported", "reason": "restates it"}', True, "supported"),
        ("both", '{"verdict": "contradicted", "reason": "no"}', False, "contradicted"),
        ("both", "Sure! The evidence supports it.", False, "unsupported"),  # malformed
        ("both", '{"verdict": "maybe"}', False, "unsupported"),  # malformed
        ("llm", '{"verdict": "supported"}', True, "supported"),
        ("llm", '{"verdict": "unsupported"}', False, "unsupported"),
    ],
)
def test_llm_judge_over_the_openai_protocol(
    tmp_path: Path, embedder: LocalEmbedder, mode: str, reply: str, supported: bool, verdict: str
) -> None:
    with FaultServer(replies=[reply]) as server:
        support = _judged(server.url, tmp_path, mode, embedder).check(FAITHFUL, SENTENCES)
        (request,) = server.requests
    assert support.supported is supported and support.verdict == verdict
    prompt = json.dumps(request["messages"])
    assert FAITHFUL in prompt and SENTENCES[0] in prompt  # the judge saw the quoted evidence


def test_both_mode_never_asks_the_judge_about_rejected_claims(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    with FaultServer(replies=['{"verdict": "supported"}']) as server:
        support = _judged(server.url, tmp_path, "both", embedder).check(
            "Aspirin doubled the risk of heart attacks.", SENTENCES
        )
        assert server.attempts == 0
    assert not support.supported and support.verdict is None


def test_llm_mode_accepts_what_the_judge_supports(tmp_path: Path, embedder: LocalEmbedder) -> None:
    # the entailment model alone rejects this; the judge (a capable model) decides in llm mode
    claim = "Aspirin doubled the risk of heart attacks."
    assert not Verifier(None).check(claim, SENTENCES).supported
    with FaultServer(replies=['{"verdict": "supported"}']) as server:
        assert _judged(server.url, tmp_path, "llm", embedder).check(claim, SENTENCES).supported


def test_verify_llm_needs_an_openai_endpoint(tmp_path: Path, embedder: LocalEmbedder) -> None:
    bot = PaperBot(make_settings(tmp_path, verify="llm"), embedder=embedder, llm=None)
    with pytest.raises(ConfigError, match="PAPERBOT_VERIFY=llm needs an OpenAI-compatible"):
        bot.verifier  # noqa: B018


# --- checking your own text ---------------------------------------------------------------

DRAFT = (
    f"Grokking can arise when a network moves from lazy to rich training dynamics [{GROKKING_ID}]. "
    f"Grokking always requires weight decay [{GROKKING_ID}]. "
    "The dataset used was: "
)


def test_check_against_cited_papers(seed_bot: PaperBot) -> None:
    report = seed_bot.check(DRAFT)
    statuses = [s.status for s in report.sentences]
    assert statuses == ["supported", "unsupported", "unsupported"], report.to_dict()
    first = report.sentences[0]
    assert first.paper_id == GROKKING_ID and first.against == "cited"
    assert seed_bot.paper(GROKKING_ID).text[first.start : first.end] == first.quote
    assert report.sentences[2].note == "it makes no claim"
    assert report.counts() == {"supported": 1, "contradicted": 0, "unsupported": 2}


def test_check_against_one_paper_and_the_library(seed_bot: PaperBot) -> None:
    text = "Grokking can arise when a network moves from lazy to rich training dynamics."
    given = seed_bot.check(text, paper=GROKKING_ID)
    assert given.sentences[0].status == "supported" and given.sentences[0].against == "paper"
    found = seed_bot.check(text)
    assert found.sentences[0].status == "supported" and found.sentences[0].against == "library"
    assert found.sentences[0].paper_id == GROKKING_ID
    unknown = seed_bot.check("Grokking needs lazy dynamics [no-such-paper].")
    assert unknown.sentences[0].status == "unsupported"
    assert "no-such-paper" in unknown.sentences[0].note


def test_check_cli_and_api_give_the_same_results(seed_bot: PaperBot, seed_home: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "bot", "check", "-", "--json"],
        input=DRAFT, capture_output=True, text=True, timeout=300, env=cli_env(seed_home),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)
    with TestClient(create_app(seed_bot), base_url="http://127.0.0.1") as client:
        api = client.post("/api/check", json={"text": DRAFT}).json()
        assert client.post("/api/check", json={"text": ""}).status_code == 422
    assert cli["counts"] == api["counts"] == {"supported": 1, "contradicted": 0, "unsupported": 2}
    assert [s["status"] for s in cli["sentences"]] == [s["status"] for s in api["sentences"]]
    assert cli["sentences"][0]["quote"] == api["sentences"][0]["quote"]
    missing = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(seed_home / "nope.txt")],
        capture_output=True, text=True, timeout=300, env=cli_env(seed_home),
    )  # fmt: skip
    assert missing.returncode == 1 and "nope.txt: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
