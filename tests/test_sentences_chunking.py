"""Sentence splitting keeps exact offsets; chunking keeps whole sentences within the budget."""

from __future__ import annotations

import itertools

from bot.ingest.readers import read_file
from bot.text.chunking import chunk_paper, count_tokens
from bot.text.sentences import split_sentences
from bot.types import Paper
from tests.conftest import SEED


def test_offsets_are_exact_on_every_seed_abstract() -> None:
    papers = read_file(SEED).papers
    assert len(papers) == 54
    for paper in papers:
        sentences = split_sentences(paper.abstract)
        assert len(sentences) >= 3
        for s in sentences:
            assert paper.abstract[s.start : s.end] == s.text


def test_abbreviations_decimals_and_initials_do_not_split() -> None:
    text = (
        "We use e.g. the U.S. data (see Fig. 3. for details) and reach 0.5 accuracy. "
        "Then J. Smith et al. proposed it! Is it true? Yes."
    )
    got = [s.text for s in split_sentences(text)]
    assert got == [
        "We use e.g. the U.S. data (see Fig. 3. for details) and reach 0.5 accuracy.",
        "Then J. Smith et al. proposed it!",
        "Is it true?",
        "Yes.",
    ]


def test_chunks_are_whole_sentences_within_budget() -> None:
    paper = read_file(SEED).papers[2]
    chunks = chunk_paper(paper, max_tokens=80, overlap=1)
    assert len(chunks) >= 3
    sentences = split_sentences(paper.abstract)
    for c in chunks:
        assert c.text == paper.abstract[c.char_start : c.char_end]
        assert c.text.startswith(sentences[c.sentence_start].text)
        assert c.text.endswith(sentences[c.sentence_end - 1].text)
        if c.sentence_end - c.sentence_start > 1:
            assert count_tokens(c.text) <= 80 + 2
    # consecutive chunks overlap by one sentence (unless a chunk is one sentence) and
    # together cover every sentence
    covered = set()
    for a, b in itertools.pairwise(chunks):
        assert b.sentence_start == max(a.sentence_end - 1, a.sentence_start + 1)
    for c in chunks:
        covered.update(range(c.sentence_start, c.sentence_end))
    assert covered == set(range(len(sentences)))


def test_chunk_ids_are_content_addressed() -> None:
    p = Paper(id="x1", title="T", abstract="One sentence here. Another one there.")
    q = Paper(id="x1", title="T", abstract="One sentence here. A changed one.")
    assert chunk_paper(p)[0].id == chunk_paper(p)[0].id
    assert chunk_paper(p)[0].id != chunk_paper(q)[0].id


def test_long_single_sentence_is_never_cut() -> None:
    words = " ".join(["token"] * 400) + "."
    p = Paper(id="x2", title="T", abstract=words)
    chunks = chunk_paper(p, max_tokens=50)
    assert len(chunks) == 1 and chunks[0].text == words
