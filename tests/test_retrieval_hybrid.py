"""Hybrid retrieval, fusion, filters, MMR and BM25/store consistency on small real corpora.

Real MiniLM embeddings, real Chroma, real bm25s; the corpora are real abstracts from the seed
listing with dates, categories and authors assigned by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.api import PaperBot
from bot.errors import InputError
from bot.index.embeddings import LocalEmbedder
from bot.index.filters import SearchFilter, date_key
from bot.index.lexical import LexicalIndex
from bot.index.store import PaperStore
from bot.ingest.readers import read_file
from bot.paths import bm25_dir
from bot.retrieve.fusion import minmax, mmr, reciprocal_rank_fusion, weighted_fusion
from bot.retrieve.search import Retriever
from bot.types import Paper
from tests.conftest import SEED, chroma_run, make_settings

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"


def _seed_papers(n: int) -> list[Paper]:
    papers = read_file(SEED).papers
    grok = [p for p in papers if p.title == GROKKING]
    rest = [p for p in papers if p.title != GROKKING]
    return (grok + rest)[:n]


def _with_metadata(papers: list[Paper]) -> list[Paper]:
    """Paper i: published 202(i%4)-(1+i%9)-15; even i cs.CL+cs.AI, odd cs.LG; 'Author i%3'."""
    out = []
    for i, p in enumerate(papers):
        out.append(
            dataclasses.replace(
                p,
                published=f"202{i % 4}-{1 + i % 9:02d}-15",
                categories=["cs.LG"] if i % 2 else ["cs.CL", "cs.AI"],
                authors=[f"Author {i % 3}", "Shared Person"],
            )
        )
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> PaperBot:
    """14 real abstracts with metadata, plus two near-copies of the grokking paper."""
    papers = _with_metadata(_seed_papers(14))
    grok = papers[0]
    copies = [
        dataclasses.replace(grok, id=f"copy-{i}", title=f"{grok.title} (version {i})")
        for i in (1, 2)
    ]
    bot = PaperBot(make_settings(tmp_path_factory.mktemp("small")), embedder=embedder, llm=None)
    report = bot.add_papers(papers + copies)
    assert report.added == 16 and not report.failed
    return bot


# --- fusion (hand-computed) ---------------------------------------------------------------


def test_reciprocal_rank_fusion_hand_computed() -> None:
    fused = dict(reciprocal_rank_fusion([[("a", 9), ("b", 5)], [("b", 0.9), ("c", 0.1)]], k=1))
    assert fused["a"] == pytest.approx(1 / 2)
    assert fused["b"] == pytest.approx(1 / 3 + 1 / 2)
    assert fused["c"] == pytest.approx(1 / 3)
    assert [d for d, _ in reciprocal_rank_fusion([[("a", 1)], [("b", 1)]])] == ["a", "b"]


def test_weighted_fusion_hand_computed() -> None:
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]  # minmax: a 1, b 0.5, c 0
    bm25 = [("c", 12.0), ("a", 2.0)]  # minmax: c 1, a 0
    fused = dict(weighted_fusion([dense, bm25], [0.6, 0.4]))
    assert fused == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.4})
    assert minmax([("x", 3.0), ("y", 3.0)]) == {"x": 1.0, "y": 1.0}


def test_mmr_skips_a_duplicate() -> None:
    v = {
        "a": np.array([1.0, 0.0]),
        "a2": np.array([1.0, 0.0]),
        "b": np.array([0.0, 1.0]),
    }
    relevance = {"a": 1.0, "a2": 0.95, "b": 0.7}
    # plain MMR: a2 scores 0.7*0.95 - 0.3*1 = 0.365 < b's 0.7*0.7 - 0 = 0.49
    assert mmr(relevance, v, 2, lambda_=1.0, duplicate=1.1) == ["a", "a2"]
    assert mmr(relevance, v, 2, lambda_=0.7, duplicate=1.1) == ["a", "b"]
    assert mmr(relevance, v, 2, lambda_=0.9, duplicate=1.1) == ["a", "a2"]  # 0.755 > 0.63
    # a near-duplicate comes last whatever the trade-off
    assert mmr(relevance, v, 3, lambda_=0.9) == ["a", "b", "a2"]


# --- modes and fusion on a real store -------------------------------------------------------


def test_every_mode_returns_one_hit_per_paper(small: PaperBot) -> None:
    query = "why do networks suddenly generalize long after fitting the training data?"
    for mode in ("dense", "bm25", "hybrid"):
        hits = small.search(query, k=5, mode=mode)
        assert hits, mode
        assert len({h.paper.id for h in hits}) == len(hits)
        assert all(h.text and h.text in h.paper.abstract for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].paper.abstract == small.paper("copy-1").abstract  # a grokking copy


def test_hybrid_combines_both_sides(small: PaperBot) -> None:
    retriever = small.retriever
    query = "heavy tailed covariance of language model transformers"
    dense = set(retriever.dense(query, 100))
    lexical = {pid for pid, _ in retriever.bm25(query, 100)}
    hybrid = [h.paper.id for h in small.search(query, k=16, mode="hybrid")]
    assert set(hybrid) <= dense | lexical
    assert set(hybrid) == dense | lexical or len(hybrid) == 16
    # a BM25-only paper found by a rare exact term, through the default (hybrid) mode
    rare = small.paper(_seed_papers(14)[5].id)
    term = max(rare.abstract.split(), key=len).strip(".,;:()")
    top = [h.paper.id for h in small.search(term, k=3)]
    assert rare.id in top


def test_rrf_and_weighted_fusion_are_both_usable(small: PaperBot) -> None:
    r = small.retriever
    query = "grokking lazy rich dynamics"
    old = r.config.fusion
    try:
        for fusion in ("rrf", "weighted"):
            r.config.fusion = fusion
            hits = small.search(query, k=3)
            assert GROKKING in hits[0].paper.title
    finally:
        r.config.fusion = old


def test_bm25_pseudo_relevance_feedback_expands_the_query(small: PaperBot) -> None:
    lexical = small.retriever.lexical
    plain = lexical.search("grokking", 16)
    expanded = lexical.search("grokking", 16, prf=True)
    assert {pid for pid, _ in plain} <= {pid for pid, _ in expanded}
    assert len(expanded) > len(plain)  # papers without the word, found through feedback terms
    assert expanded[0][0] == plain[0][0]
    only_ai = SearchFilter.build(categories="cs.AI")
    ai = lexical.search("grokking", 16, prf=True, filters=only_ai)
    assert ai and all("cs.AI" in small.paper(pid).categories for pid, _ in ai)


def test_unknown_mode_is_an_input_error(small: PaperBot) -> None:
    with pytest.raises(InputError, match="retrieval mode"):
        small.search("grokking", mode="splade")


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_apply_on_every_side(small: PaperBot, mode: str) -> None:
    query = "learning models training data"
    hits = small.search(query, k=16, mode=mode, since="2022-01", until="2023-12-31")
    assert hits
    assert all("2022-01-01" <= (h.paper.published or "") <= "2023-12-31" for h in hits)
    hits = small.search(query, k=16, mode=mode, categories=["cs.LG"])
    assert hits and all("cs.LG" in h.paper.categories for h in hits)
    hits = small.search(query, k=16, mode=mode, categories=["CS.AI", "nope"], authors="author 1")
    assert hits
    for h in hits:
        assert "cs.AI" in h.paper.categories and "Author 1" in h.paper.authors
    assert small.search(query, k=5, mode=mode, authors=["Nobody Here"]) == []


def test_unfiltered_search_reaches_papers_filters_exclude(small: PaperBot) -> None:
    all_ids = {h.paper.id for h in small.search("learning models training data", k=16)}
    lg = {
        h.paper.id for h in small.search("learning models training data", k=16, categories="cs.LG")
    }
    assert lg < all_ids


def test_ask_takes_the_same_filters(small: PaperBot) -> None:
    question = "What is grokking and which training dynamics explain it?"
    answer = small.ask(question, categories="cs.AI")
    assert answer.citations and GROKKING in answer.citations[0].title
    filtered = small.ask(question, categories=["cs.LG"])
    assert all("cs.LG" in small.paper(pid).categories for pid in filtered.retrieved)
    assert not any(GROKKING in c.title for c in filtered.citations)


def test_raw_chroma_where_still_works(small: PaperBot) -> None:
    hits = small.search("training dynamics", k=5, where={"published_ts": {"$lt": 20210101}})
    assert hits and all((h.paper.published or "") < "2021" for h in hits)


def test_filter_validation() -> None:
    assert SearchFilter.build() is None
    with pytest.raises(InputError, match="since"):
        SearchFilter.build(since="last week")
    with pytest.raises(InputError, match="after"):
        SearchFilter.build(since="2024-05", until="2024-01")
    assert date_key("2024-06") == 20240600 and date_key("2024-06", end=True) == 20240699
    f = SearchFilter.build(since="2024", authors=["Zoë Smith"])
    assert f is not None and f.to_where() == {
        "$and": [{"published_ts": {"$gte": 20240000}}, {"author_keys": {"$contains": "zoe smith"}}]
    }


# --- diversity ----------------------------------------------------------------------------


def test_diverse_search_drops_near_duplicates(small: PaperBot) -> None:
    query = "grokking transition from lazy to rich training dynamics"
    plain = [h.paper.title for h in small.search(query, k=3)]
    diverse = [h.paper.title for h in small.search(query, k=3, diverse=True)]
    assert sum(GROKKING in t for t in plain) == 3  # the original and its two copies
    assert sum(GROKKING in t for t in diverse) == 1
    assert GROKKING in diverse[0]


# --- BM25 index follows the store -----------------------------------------------------------


@pytest.fixture()
def tiny(tmp_path: Path, embedder: LocalEmbedder) -> PaperBot:
    bot = PaperBot(make_settings(tmp_path / "home"), embedder=embedder, llm=None)
    bot.add_papers(_with_metadata(_seed_papers(4)))
    return bot


def _bm25_ids(bot: PaperBot, query: str) -> list[str]:
    return [h.paper.id for h in bot.search(query, k=4, mode="bm25")]


def test_bm25_follows_upsert_and_delete(tiny: PaperBot) -> None:
    victim = tiny.papers()[0]
    assert _bm25_ids(tiny, "quetzalcoatlus") == []
    before = tiny.search(victim.title, k=1, mode="bm25")[0].paper.id
    assert before == victim.id
    changed = dataclasses.replace(
        victim,
        title="Flight of the quetzalcoatlus",
        abstract="We model the quetzalcoatlus wing. The pterosaur launched quadrupedally.",
    )
    assert tiny.add_papers([changed]).updated == 1
    assert _bm25_ids(tiny, "quetzalcoatlus") == [victim.id]
    old_words = " ".join(w for w in victim.title.split() if len(w) > 6)
    assert victim.id not in _bm25_ids(tiny, old_words)
    hit = tiny.search("quetzalcoatlus wing", k=1, mode="bm25")[0]
    assert hit.paper.title == changed.title and "quetzalcoatlus" in hit.text

    # a new process: the saved index is loaded (same revision), not rebuilt
    again = PaperBot(tiny.settings, embedder=tiny.embedder, llm=None)
    assert _bm25_ids(again, "quetzalcoatlus") == [victim.id]
    assert again.retriever.lexical._revision == tiny.store.revision()

    tiny.store.delete_papers([victim.id])
    assert _bm25_ids(tiny, "quetzalcoatlus") == []
    assert victim.id not in {h.paper.id for h in tiny.search("wing pterosaur", k=4)}
    assert len(tiny.retriever.lexical) == 3


def test_bm25_rebuilds_after_a_write_by_another_store(tiny: PaperBot) -> None:
    tiny.search("anything at all", k=2, mode="bm25")  # index built and saved
    # another writer (another PaperStore: what another process through a Chroma server is)
    other = PaperStore(tiny.settings, tiny.embedder.name, tiny.embedder.dimension)
    writer = PaperBot(tiny.settings, embedder=tiny.embedder, store=other, llm=None)
    fresh = Paper(
        id="new-1",
        title="Axolotl limb regeneration",
        abstract="Axolotl salamanders regrow limbs. Blastema cells drive regeneration.",
    )
    writer.add_papers([fresh])
    assert _bm25_ids(tiny, "axolotl regeneration") == ["new-1"]
    other.delete_papers(["new-1"])
    assert _bm25_ids(tiny, "axolotl regeneration") == []


def test_lexical_index_rebuilds_when_its_files_are_gone(tiny: PaperBot) -> None:
    import shutil

    ids = _bm25_ids(tiny, "training")
    directory = bm25_dir(tiny.settings)
    assert (directory / "CURRENT").is_file()
    shutil.rmtree(directory)
    fresh = Retriever(tiny.store, tiny.embedder, lexical=LexicalIndex(tiny.store, directory))
    assert [h.paper.id for h in fresh.search("training", k=4, mode="bm25")] == ids
    assert (directory / "CURRENT").is_file()


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A real ``chroma run`` server on 127.0.0.1; yields its port."""
    with chroma_run(tmp_path / "srv") as port:
        yield port


@pytest.mark.server
def test_bm25_follows_writes_through_a_chroma_server(
    tmp_path: Path, embedder: LocalEmbedder, chroma_server: int
) -> None:
    """Two clients of one Chroma server (as two processes would be): the reader's BM25 index
    notices the writer's changes through the revision stored in Chroma."""
    settings = make_settings(
        tmp_path / "reader", chroma_host="127.0.0.1", chroma_port=chroma_server
    )
    reader = PaperBot(settings, embedder=embedder, llm=None)
    reader.add_papers(_seed_papers(2))
    assert _bm25_ids(reader, "axolotl") == []
    wsettings = settings.model_copy(update={"home": tmp_path / "writer"})
    writer = PaperBot(wsettings, embedder=embedder, llm=None)
    assert writer.store is not reader.store
    writer.add_papers(
        [Paper(id="ax", title="Axolotl limbs", abstract="Axolotl salamanders regrow limbs.")]
    )
    assert _bm25_ids(reader, "axolotl") == ["ax"]
    writer.store.delete_papers(["ax"])
    assert _bm25_ids(reader, "axolotl") == []
    assert bm25_dir(settings).name.startswith("127-0-0-1-")
