"""Search and extractive answers over the real seed store."""

from __future__ import annotations

import re

import pytest

from bot.api import PaperBot
from bot.errors import EmptyStoreError, InputError
from bot.text.sentences import split_sentences

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"


def test_search_finds_grokking_for_a_paraphrase(seed_bot: PaperBot) -> None:
    hits = seed_bot.search(
        "why do networks suddenly generalize long after fitting the training data?", k=5
    )
    titles = [h.paper.title for h in hits]
    assert GROKKING in titles[:3]
    assert len(set(h.paper.id for h in hits)) == len(hits)  # one entry per paper
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h.text in h.paper.abstract for h in hits)


def test_search_respects_k(seed_bot: PaperBot) -> None:
    assert len(seed_bot.search("diffusion models", k=3)) == 3
    with pytest.raises(InputError):
        seed_bot.search("diffusion", k=0)


def _check_citations(bot: PaperBot, answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.citations
    for c in answer.citations:
        abstract = bot.paper(c.paper_id).abstract
        assert c.quote in abstract  # verbatim
        assert abstract[c.start : c.end] == c.quote
        assert c.paper_id in answer.retrieved  # never a non-retrieved source
        assert f"[{c.n}]" in answer.answer
        assert c.quote in {s.text for s in split_sentences(abstract)}


def test_extractive_answer_quotes_verbatim(seed_bot: PaperBot) -> None:
    answer = seed_bot.ask("What is grokking and what training dynamics explain it?")
    assert not answer.abstained
    assert answer.mode == "extractive"
    _check_citations(seed_bot, answer)
    assert GROKKING in {c.title for c in answer.citations}
    # an extractive answer is all quotes: every quoted sentence is cited once and supported
    markers = re.findall(r"(?<!\\)\[(\d+)\]", answer.answer)
    assert sorted(int(n) for n in markers) == [c.n for c in answer.citations]
    assert answer.supported == answer.total == len(answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital city of Australia?",
        "How do I bake sourdough bread at home?",
        "Which football club won the 2018 Champions League final?",
    ],
)
def test_out_of_corpus_question_abstains(seed_bot: PaperBot, question: str) -> None:
    answer = seed_bot.ask(question)
    assert answer.abstained
    assert answer.citations == []


def test_empty_question_is_an_input_error(seed_bot: PaperBot) -> None:
    with pytest.raises(InputError, match="empty"):
        seed_bot.ask("   ")


def test_question_against_empty_store(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    bot = PaperBot(make_settings(tmp_path / "empty"), embedder=embedder, llm=None)
    with pytest.raises(EmptyStoreError, match="no papers"):
        bot.ask("What is grokking?")
