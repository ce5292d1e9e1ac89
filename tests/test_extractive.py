"""Extractive answers a reader can use: the answering sentence, standalone quotes, grouped by
paper, no padding; and chat follow-ups that stay on the previous turn's papers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.generate.answer import Source, extractive_answer
from bot.ground.sentence_scorer import Candidate, SentenceScorer, refers_back
from bot.ground.verify import Verifier
from bot.index.embeddings import LocalEmbedder
from bot.storage.sessions import SessionStore
from bot.text.sentences import split_sentences
from bot.types import Paper
from tests.conftest import make_settings

PFGM = "PFGM++: Unlocking the Potential of Physics-Inspired Generative Models"
GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"


def test_refers_back() -> None:
    for text in (
        "This provides the first proof.",
        "First, they can achieve it.",
        "They use X.",
        "However, little is known.",
        "In addition, we show Y.",
    ):
        assert refers_back(text), text
    for text in (
        "We propose PFGM++.",
        "Diffusion models generate images.",
        "Thistle grows.",
        "This paper shows X.",
        "In this work, we study Y.",
    ):
        assert not refers_back(text), text


def _source(n: int, title: str, abstract: str, score: float = 1.0) -> Source:
    paper = Paper(id=f"p{n}", title=title, abstract=abstract)
    return Source(n, paper, split_sentences(abstract), score, abstract)


def test_scorer_prefers_the_answering_sentence_to_the_motivation(embedder: LocalEmbedder) -> None:
    sentences = [
        "Diffusion models have become the leading approach to image generation datasets.",
        "However, their sampling remains slow and expensive.",
        "We train on the CIFAR-10 and FFHQ datasets and reach an FID of 1.9.",
        "Code is available online.",
    ]
    candidates = [Candidate(t, "p", i, len(sentences)) for i, t in enumerate(sentences)]
    scores = SentenceScorer().score(
        "What datasets did they use?", candidates, embedder.embed_documents
    )
    assert int(scores.argmax()) == 2, scores


def test_a_quote_that_leans_back_comes_with_its_antecedent(embedder: LocalEmbedder) -> None:
    source = _source(
        1,
        "Poisson flows",
        "Poisson flow models unify diffusion models and electrostatics. "
        "These models reduce to diffusion models when the augmented dimension goes to infinity. "
        "We release our code.",
    )
    draft, best = extractive_answer(
        "When do Poisson flow models reduce to diffusion models?",
        [source],
        Verifier(embedder),
        threshold=0.3,
    )
    assert draft is not None and best >= 0.3
    quotes = [c.quote for c in draft.citations]
    assert quotes[:2] == [s.text for s in source.sentences[:2]]  # antecedent first, in order
    assert draft.text.startswith("\u201cPoisson flows\u201d: Poisson flow models unify")


def test_answers_are_grouped_by_paper_and_not_padded(seed_bot: PaperBot) -> None:
    answer = seed_bot.ask("How does grokking relate to lazy and rich training dynamics?")
    assert {c.title for c in answer.citations} == {GROKKING}  # no unrelated paper as padding
    answer = seed_bot.ask("Which generative models are inspired by physics?")
    assert not answer.abstained
    groups = answer.answer.split("\n\n")
    titles = [c.title for c in answer.citations]
    assert len(groups) == len(dict.fromkeys(titles))  # one paragraph per cited paper
    for group, title in zip(groups, dict.fromkeys(titles), strict=True):
        assert group.startswith(f"\u201c{' '.join(title.split())}\u201d: ")
        for c in answer.citations:
            assert (f"[{c.n}]" in group) == (c.title == title)
    for c in answer.citations:  # every quote is a verbatim sentence of its paper
        abstract = seed_bot.paper(c.paper_id).abstract
        assert abstract[c.start : c.end] == c.quote


@pytest.fixture()
def chat_bot(seed_home: Path, embedder: LocalEmbedder, tmp_path: Path) -> PaperBot:
    bot = PaperBot(make_settings(seed_home), embedder=embedder, llm=None)
    bot._sessions = SessionStore(tmp_path / "sessions.sqlite3")
    return bot


def test_follow_up_about_they_stays_on_the_previous_papers(chat_bot: PaperBot) -> None:
    """The issue's transcript: PFGM++, then "what datasets did they use?" once quoted S2SNet's
    "Code and datasets are available"."""
    first = chat_bot.chat("How does PFGM++ relate to diffusion models?")
    cited = list(dict.fromkeys(c.paper_id for c in first.answer.citations))
    assert PFGM in {c.title for c in first.answer.citations}
    second = chat_bot.chat("what datasets did they use?", first.session_id)
    data = second.to_dict()
    assert data["scope"] == cited[:3]
    assert set(data["retrieved"]) <= set(cited)
    assert "S2SNet" not in data["answer"]
    assert any("previous answer cited" in note for note in data["notes"])
    if not data["abstained"]:
        assert all(c["paper_id"] in cited for c in data["citations"])
        assert "CIFAR-10" in data["answer"]  # PFGM++'s own datasets sentence
