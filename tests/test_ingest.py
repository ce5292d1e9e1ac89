"""Ingest into a real embedded Chroma store with the real MiniLM model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.errors import EmbeddingMismatchError
from bot.index.embeddings import LocalEmbedder
from bot.ingest.readers import read_file
from tests.conftest import SEED, make_settings

GROKKING = "Grokking as the Transition from Lazy to Rich Training Dynamics"


def _bot(home: Path, embedder: LocalEmbedder, **kw: object) -> PaperBot:
    return PaperBot(make_settings(home, **kw), embedder=embedder, llm=None)


def test_seed_store_has_54_papers_with_titles(seed_bot: PaperBot) -> None:
    papers = seed_bot.papers()
    assert len(papers) == 54
    titles = {p.title for p in papers}
    assert GROKKING in titles
    assert "Subscribe" not in titles and "new" not in titles
    expected = {p.title for p in read_file(SEED).papers}
    assert titles == expected
    stats = seed_bot.stats()
    assert stats["papers"] == 54
    assert stats["chunks"] >= 54
    assert stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert stats["embedding_dim"] == 384


def test_reingest_is_unchanged_and_writes_nothing(seed_bot: PaperBot) -> None:
    chunks_before = seed_bot.store.count_chunks()
    report = seed_bot.ingest([SEED])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 54)
    assert report.chunks_written == 0
    assert seed_bot.store.count_chunks() == chunks_before


def test_changed_abstract_replaces_old_chunks(tmp_path: Path, embedder: LocalEmbedder) -> None:
    bot = _bot(tmp_path / "home", embedder)
    first = tmp_path / "v1.jsonl"
    long_abs = " ".join(
        f"Sentence number {i} talks about sparse attention kernels." for i in range(30)
    )
    first.write_text(
        json.dumps({"id": "2401.00001", "title": "Sparse Kernels", "abstract": long_abs}) + "\n"
    )
    r1 = bot.ingest([first])
    assert r1.added == 1
    n1 = bot.store.count_chunks()
    assert n1 >= 2
    second = tmp_path / "v2.jsonl"
    second.write_text(
        json.dumps(
            {
                "id": "2401.00001",
                "title": "Sparse Kernels",
                "abstract": "A short new abstract about dense kernels.",
            }
        )
        + "\n"
    )
    r2 = bot.ingest([second])
    assert (r2.added, r2.updated, r2.unchanged) == (0, 1, 0)
    assert bot.store.count_papers() == 1
    assert bot.store.count_chunks() == 1  # no orphans from the old version
    assert bot.paper("2401.00001").abstract == "A short new abstract about dense kernels."


def test_same_paper_from_two_files_is_one_paper(tmp_path: Path, embedder: LocalEmbedder) -> None:
    bot = _bot(tmp_path / "home", embedder)
    listing = tmp_path / "listing.txt"
    abstract = (
        "We study how transformers memorise facts. We find that memorisation happens in "
        "early layers and that later layers retrieve the stored facts for prediction. "
        "Ablations on three model sizes show the same two-stage pattern throughout."
    )
    listing.write_text(f"Header line\n\nMemory in Transformers\n\n{abstract}\n")
    records = tmp_path / "records.jsonl"
    records.write_text(
        json.dumps(
            {
                "id": "2402.12345",
                "title": "Memory in  Transformers",
                "abstract": abstract,
                "authors": ["A. Writer"],
            }
        )
        + "\n"
    )
    assert bot.ingest([listing]).added == 1
    first_id = bot.papers()[0].id
    assert first_id.startswith("t-")
    report = bot.ingest([records])
    assert (report.added, report.merged) == (0, 1)
    # one record; its id stays the one it was given, the arXiv id becomes an alias
    [paper] = bot.papers()
    assert paper.id == first_id and paper.aliases == ["2402.12345"]
    assert paper.authors == ["A. Writer"]  # the field the listing lacked was filled in
    assert bot.paper("2402.12345").id == first_id
    # and the other order, in one batch: the strongest id (arXiv) is taken
    bot2 = _bot(tmp_path / "home2", embedder)
    report = bot2.ingest([records, listing])
    assert (report.added, report.merged) == (1, 1)
    assert [p.id for p in bot2.papers()] == ["2402.12345"]
    report = bot2.ingest([listing])
    assert report.unchanged == 1 and bot2.store.count_papers() == 1


def test_bad_inputs_are_reported_and_the_rest_ingests(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    d = tmp_path / "inbox"
    d.mkdir()
    (d / "empty.jsonl").write_text("")
    (d / "binary.json").write_bytes(b"\x00\x01\x02PNG\x00\xff")
    (d / "latin1.txt").write_bytes("Titre\n\nR\xe9sum\xe9 en fran\xe7ais.\n".encode("latin-1"))
    (d / "notes.docx").write_bytes(b"PK\x03\x04")
    good = {"id": "2403.00001", "title": "Good Paper", "abstract": "A fine abstract about graphs."}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "x", "title": "No abstract"}),
        json.dumps(
            {
                "id": "2403.00002",
                "title": "Second Good Paper",
                "abstract": "Another abstract about trees.",
            }
        ),
    ]
    (d / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    bot = _bot(tmp_path / "home", embedder)
    report = bot.ingest([d])
    assert report.added == 2
    failed = {(Path(f.path).name, f.line) for f in report.failed}
    assert ("mixed.jsonl", 2) in failed
    assert ("mixed.jsonl", 3) in failed
    names = {name for name, _ in failed}
    assert {"empty.jsonl", "binary.json", "latin1.txt", "notes.docx"} <= names
    for f in report.failed:
        assert f.error
    # the store is consistent: exactly the good papers, each with its chunks
    assert sorted(p.id for p in bot.papers()) == ["2403.00001", "2403.00002"]
    assert bot.store.count_chunks() == 2


def test_other_embedding_model_is_a_clear_error(seed_home: Path) -> None:
    class Other:
        name = "other-model"
        dimension = 8

    with pytest.raises(EmbeddingMismatchError, match="all-MiniLM-L6-v2"):
        _ = PaperBot(make_settings(seed_home), embedder=Other(), llm=None).store  # type: ignore[arg-type]
