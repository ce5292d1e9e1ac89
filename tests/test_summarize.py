"""Lay summaries: extractive over the real seed store, local (embedded llama.cpp) and openai
(llama-cpp-python's real server on 127.0.0.1); faithfulness gates; cache; reading level."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.api import PaperBot
from bot.errors import InputError
from bot.generate.readability import fkgl
from bot.generate.summarize import (
    abstract_definitions,
    cache_parts,
    check_lay_text,
    summarize_paper,
    summary_options,
)
from bot.index.embeddings import LocalEmbedder
from bot.llm.base import ChatModel
from bot.llm.prompts import prompts_dir
from bot.llm.providers import make_llm
from bot.llm.scripted import ScriptedModel
from bot.retrieve.lookup import AmbiguousPaperError
from bot.storage.cache import GenerationCache, cache_key
from bot.text.latex import clean_latex
from bot.text.sentences import split_sentences
from bot.types import LaySummary, Paper
from tests.conftest import make_settings
from tests.faultserver import FaultServer

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"
FISHER = "Merging Models with Fisher-Weighted Averaging"

LATEX_PAPER = Paper(
    id="latex-1",
    title="FooNet: Small Images Made Easy",
    abstract=(
        r"We propose \emph{FooNet}, a convolutional network for $64{times}64$ images with "
        r"mathcal{O}(mathcal{C_Phi/m}) excess risk. "
        r"On the ImageNet-64times 64 benchmark, FooNet reaches an FID of \emph{1.46}. "
        "The method only applies to square images, which is a limitation."
    ),
)


def _assert_cited_verbatim(result: LaySummary, paper: Paper) -> None:
    sentences = {s.text for s in split_sentences(paper.abstract)}
    assert result.citations
    for c in result.citations:
        assert paper.abstract[c.start : c.end] == c.quote  # verbatim, exact offsets
        assert c.quote in sentences
        assert c.paper_id == paper.id
        assert f"[{c.n}]" in result.summary
    for sentence in split_sentences(result.summary):
        assert re.search(r"\[\d+\]", sentence.text), sentence.text  # every sentence cited
    used = {int(n) for n in re.findall(r"\[(\d+)\]", result.summary)}
    assert used == {c.n for c in result.citations}


def test_clean_latex_removes_debris_and_keeps_prose() -> None:
    assert clean_latex(r"the \emph{Uni-Instruct} model") == "the Uni-Instruct model"
    assert clean_latex("On the ImageNet-64times 64 benchmark") == "On the ImageNet-64×64 benchmark"
    assert clean_latex("64{times}64 and 2times faster") == "64×64 and 2× faster"
    assert clean_latex("risk of mathcal{O}(mathcal{C_Phi/m} + mathcal{C_Psi/n})") == (
        "risk of O(C_Φ/m + C_Ψ/n)"
    )
    assert clean_latex(r"Schr\"odinger bridges") == "Schrödinger bridges"
    prose = "the error is bounded by a constant times the best error"
    assert clean_latex(prose) == prose


def test_abbreviations_become_glossary_entries() -> None:
    abstract = (
        "Integrated autoregressive conditional duration (ACD) models serve as counterparts "
        "to GARCH models. We use dynamical mean field theory (DMFT) for the analysis."
    )
    entries = {g.term: g.meaning for g in abstract_definitions(abstract)}
    assert entries["ACD"] == "autoregressive conditional duration"
    assert entries["DMFT"] == "dynamical mean field theory"


def test_fkgl_is_measured_from_the_text() -> None:
    easy = "The cat sat on the mat [1]. It was a good day [2]."
    hard = (
        "Asymptotic characterisation of infinite-mean autoregressive conditional durations "
        "necessitates unconventional quasi-maximum likelihood methodology [1]."
    )
    assert fkgl(easy) < 3 < 14 < fkgl(hard)
    assert fkgl(easy) == fkgl(easy.replace(" [1]", "").replace(" [2]", ""))  # markers ignored
    assert fkgl("") == 0.0


def test_extractive_summary_by_title(seed_bot: PaperBot) -> None:
    paper = seed_bot.find_paper(GROKKING.lower().replace("from", "frm"))  # fuzzy, one typo
    assert paper.title == GROKKING
    result = seed_bot.summarize(paper.id, use_cache=False)
    assert result.mode == "extractive" and result.model == "none"
    _assert_cited_verbatim(result, paper)
    assert result.supported == result.total == len(result.citations) >= 2
    assert {"term": "DMFT", "meaning": "dynamical mean field theory", "source": "abstract"} in [
        g.to_dict() for g in result.glossary
    ]
    # the reading level is computed from the shown text, not echoed from the target
    assert result.fkgl == fkgl(result.summary) and result.fkgl != result.target
    assert result.target == 8.0 and result.met == (abs(result.fkgl - 8.0) <= 2.0)
    data = result.to_dict()
    assert {
        "paper_id",
        "title",
        "summary",
        "glossary",
        "citations",
        "readability",
        "verified",
        "mode",
        "model",
    } <= set(data)
    assert set(data["readability"]) >= {"fkgl", "target"}
    assert data["verified"] == {"supported": result.supported, "total": result.total}
    assert {"n", "quote"} <= set(data["citations"][0])


def test_extractive_summary_cleans_latex_but_quotes_stay_verbatim(seed_bot: PaperBot) -> None:
    settings = make_settings(Path("/nonexistent"))
    result = summarize_paper(
        LATEX_PAPER, verifier=seed_bot.verifier, llm=None, settings=settings, words=200
    )
    assert "\\emph" not in result.summary and "{" not in result.summary
    assert "mathcal" not in result.summary
    assert "FooNet" in result.summary and "64×64" in result.summary
    assert "1.46" in result.summary
    _assert_cited_verbatim(result, LATEX_PAPER)
    assert any("\\emph{FooNet}" in c.quote for c in result.citations)  # the source, uncleaned
    assert any("limitation" in c.quote for c in result.citations)  # the honest limitation


def test_audience_and_grade_options(seed_bot: PaperBot) -> None:
    result = seed_bot.summarize(FISHER, audience="expert", words=60, use_cache=False)
    assert result.audience == "expert" and result.target == 16.0
    assert len(result.summary.split()) <= 60 * 1.6
    assert seed_bot.summarize(FISHER, grade=10, use_cache=False).target == 10.0
    with pytest.raises(InputError, match="audience"):
        seed_bot.summarize(FISHER, audience="toddler")


def test_ambiguous_and_unknown_titles(seed_bot: PaperBot) -> None:
    with pytest.raises(AmbiguousPaperError) as info:
        seed_bot.find_paper("grokking")
    titles = {p.title for p in info.value.candidates}
    assert GROKKING in titles and len(titles) >= 2
    with pytest.raises(InputError, match="no paper matches"):
        seed_bot.find_paper("sourdough bread recipes for beginners")


def test_gates_remove_unsupported_numbers_and_names(seed_bot: PaperBot) -> None:
    paper = seed_bot.find_paper(GROKKING)
    text = (
        "Grokking can arise when a neural network moves from lazy training dynamics to a "
        "rich feature learning regime [1]. "
        "The authors trained GPT-5 on the LAION dataset for 300 days [2]. "
        "Grokking happens in 97% of all networks [3]."
    )
    checked = check_lay_text(text, paper, seed_bot.verifier)
    assert checked.total == 3 and checked.supported == 1
    assert checked.text.startswith("Grokking can arise")
    assert checked.removed == [  # each removed sentence with the first gate it failed
        "The authors trained GPT-5 on the LAION dataset for 300 days. "
        "(the number 300 is not in the abstract)",
        "Grokking happens in 97% of all networks. (the number 97% is not in the abstract)",
    ]
    for c in checked.citations:
        assert paper.abstract[c.start : c.end] == c.quote


def test_cache_hit_on_rerun(seed_bot: PaperBot, tmp_path: Path) -> None:
    cache = GenerationCache(tmp_path / "gen.sqlite3")
    paper = seed_bot.find_paper(FISHER)
    settings = seed_bot.settings
    first = summarize_paper(
        paper, verifier=seed_bot.verifier, llm=None, settings=settings, cache=cache
    )
    again = summarize_paper(
        paper, verifier=seed_bot.verifier, llm=None, settings=settings, cache=cache
    )
    assert not first.cached and again.cached
    assert again.summary == first.summary and again.to_dict()["citations"] == [
        c.to_dict() for c in first.citations
    ]
    other = summarize_paper(
        paper, verifier=seed_bot.verifier, llm=None, settings=settings, cache=cache, words=40
    )
    assert not other.cached  # another option is another entry
    assert cache.count() == 2


# --- real models -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_settings(seed_home: Path):  # type: ignore[no-untyped-def]
    return make_settings(seed_home, llm_mode="local", max_tokens=96, local_threads=1)


@pytest.mark.llm
def test_local_mode_summary_is_verified_and_cached(
    local_settings, seed_bot: PaperBot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    llm = make_llm(local_settings)
    assert llm is not None and llm.mode == "local"
    paper = seed_bot.find_paper(GROKKING)
    cache = GenerationCache(tmp_path / "gen.sqlite3")

    def run() -> LaySummary:
        return summarize_paper(
            paper, verifier=seed_bot.verifier, llm=llm, settings=local_settings, cache=cache
        )

    result = run()
    _assert_cited_verbatim(result, paper)
    assert result.fkgl == fkgl(result.summary)
    # the model ran (no error) and its draft went through the gates; which way they decide is
    # pinned with a scripted model below
    assert not any("model failed" in n for n in result.notes), result.notes
    if result.fallback_from is None:
        assert result.mode == "local" and result.model == llm.model and result.supported >= 1
        assert result.revised == any("revised draft measured" in n for n in result.notes)
    else:  # the 135M model's draft failed the gates: honest extractive fallback
        assert (result.mode, result.fallback_from) == ("extractive", "local")
        assert any("faithfulness" in n for n in result.notes), result.notes
    assert run().cached  # re-run: instant, from the cache


def test_changed_prompt_or_model_changes_the_cache_key(
    seed_bot: PaperBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key covers the prompt files' hashes and the model: editing a prompt regenerates."""
    paper = seed_bot.find_paper(FISHER)
    llm = ScriptedModel(mode="local", model="SmolLM2-135M-Instruct.Q4_1")  # never invoked
    opts = summary_options(seed_bot.settings, None, None, None, "summary")

    def key(model: ChatModel | None) -> str:
        return cache_key("summary", cache_parts(paper, opts, model, seed_bot.verifier))

    before = key(llm)
    assert before == key(llm)  # stable
    assert before != key(None) != key(ScriptedModel(mode="openai", model="gpt-4o-mini"))
    changed = tmp_path / "prompts"
    shutil.copytree(prompts_dir(), changed)
    path = changed / "lay_summary.md"
    path.write_text(path.read_text() + "\nKeep it short.\n")
    monkeypatch.setenv("PAPERBOT_PROMPTS_DIR", str(changed))
    assert key(llm) != before
    assert key(None) == key(None)  # extractive summaries use no prompt


def _numbered(body: dict[str, Any]) -> list[tuple[int, str]]:
    """The numbered abstract sentences of a lay_summary request (prompts/lay_summary.md)."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    return [(int(n), t) for n, t in re.findall(r"^\[(\d+)\] (.+)$", prompt, re.MULTILINE)]


def _copies_two(body: dict[str, Any]) -> str:
    """A faithful scripted model: the first two abstract sentences, each cited."""
    return " ".join(f"{text.rstrip('.')} [{n}]." for n, text in _numbered(body)[:2])


UNFAITHFUL = "The authors trained GPT-5 on the LAION dataset for 300 days [1]."


@pytest.mark.parametrize("faithful", [True, False], ids=["faithful-kept", "unfaithful-replaced"])
def test_openai_protocol_summary_is_kept_or_replaced(
    seed_home: Path, embedder: LocalEmbedder, faithful: bool
) -> None:
    """The summary path over the OpenAI protocol with a scripted model, each outcome pinned.
    (The openai client against llama-cpp-python's real server is tested in
    tests/test_answer_llm.py; the real SmolLM2 summarises above.)"""
    reply = _copies_two if faithful else (lambda body: UNFAITHFUL)
    with FaultServer(reply=reply) as server:
        settings = make_settings(
            seed_home,
            llm_mode="openai",
            openai_base_url=server.url,
            openai_api_key="sk-scripted",
            openai_model="scripted",
            llm_max_retries=0,
        )
        bot = PaperBot(settings, embedder=embedder, llm=make_llm(settings))
        result = bot.summarize(FISHER, use_cache=False)
        first = server.requests[0]
    paper = bot.find_paper(FISHER)
    assert _numbered(first)  # the model was shown the numbered abstract
    _assert_cited_verbatim(result, paper)
    assert result.fkgl == fkgl(result.summary)
    if faithful:
        assert (result.mode, result.model, result.fallback_from) == ("openai", "scripted", None)
        assert (result.supported, result.total) == (2, 2)
        quoted = [text for _, text in _numbered(first)[:2]]
        assert [c.quote for c in result.citations] == quoted
    else:
        assert (result.mode, result.model, result.fallback_from) == ("extractive", "none", "openai")
        assert "GPT-5" not in result.summary
        assert any("GPT-5" in r for r in result.removed), result.removed
