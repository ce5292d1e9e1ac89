"""``paperbot doctor`` and crash recovery, against a real store damaged on purpose.

Damage is done with chromadb directly (deleting chunks, adding an orphan and a stale chunk,
rolling a paper record or the store revision back) and by deleting or half-writing the BM25
index folder. The crash-window tests rebuild, exactly, the store state a SIGKILL leaves at each
point of a write (see bot/index/journal.py) and check that the next ingest converges to the clean
result - deterministic companions of the random SIGKILLs of tests/test_crash_safety.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest

from bot.api import PaperBot
from bot.index.journal import WriteJournal, journal_notes
from bot.index.writes import prepare_writes
from bot.paths import bm25_dir
from bot.types import Paper
from tests.conftest import abstracts, make_settings

PAPERBOT = [str(Path(sys.executable).parent / "paperbot")]


def _papers(n: int, start: int = 0) -> list[Paper]:
    return [Paper(**r) for r in abstracts(start, n)]


def _collections(home: Path) -> tuple[Any, Any]:
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)  # as bot.store
    client = chromadb.PersistentClient(path=str(home / "chroma"), settings=settings)
    return client.get_collection("papers_papers"), client.get_collection("papers_chunks")


def _state(bot: PaperBot) -> dict[str, Any]:
    papers = dict(bot.store.iter_paper_records())
    return {
        "papers": {pid: (m["content_hash"], m["n_chunks"]) for pid, m in papers.items()},
        "chunks": sorted(cid for cid, _ in bot.store.iter_chunk_records()),
    }


def _statuses(bot: PaperBot) -> dict[str, tuple[str, int]]:
    return {c.name: (c.status, c.count) for c in bot.doctor().checks}


@pytest.fixture()
def built(tmp_path: Path, embedder: Any) -> tuple[PaperBot, dict[str, Any], list[Paper]]:
    """A clean store of 8 papers with its BM25 index saved, and its state."""
    papers = _papers(8)
    bot = PaperBot(make_settings(tmp_path / "home"), embedder=embedder, llm=None)
    assert bot.add_papers(papers).added == 8
    assert bot.search(papers[0].title, k=3)  # builds and saves the BM25 index
    return bot, _state(bot), papers


def test_clean_store_is_ok(built: tuple[PaperBot, dict[str, Any], list[Paper]]) -> None:
    bot, _state0, _papers0 = built
    report = bot.doctor()
    assert report.ok and all(c.status == "ok" for c in report.checks), report.to_dict()
    assert report.papers == 8 and report.chunks == bot.store.count_chunks()
    assert {c.name for c in report.checks} == {
        "manifest",
        "orphan chunks",
        "stale chunks",
        "incomplete papers",
        "chroma counts",
        "vector index",
        "interrupted write",
        "bm25 index",
        "store file",
        "paper vectors",
    }


def test_doctor_finds_damage_and_repair_fixes_it(
    built: tuple[PaperBot, dict[str, Any], list[Paper]],
) -> None:
    bot, state0, papers = built
    home = bot.settings.store.home
    _paper_coll, chunks = _collections(home)
    by_paper = bot.store.chunks_of([p.id for p in papers])
    a, b, c = papers[0].id, papers[1].id, papers[2].id
    assert len(by_paper[a]) >= 2
    # Damage: one chunk of A gone, every chunk of B gone, an orphan, a stale chunk of C.
    chunks.delete(ids=[by_paper[a][0].chunk_id])
    chunks.delete(ids=[m.chunk_id for m in by_paper[b]])
    vec = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    chunks.add(
        ids=["ghost::0"],
        embeddings=vec,
        documents=["a chunk of a paper that was never committed"],
        metadatas=[{"paper_id": "ghost", "chunk_index": 0, "content_hash": "x"}],
    )
    chunks.add(
        ids=[f"{c}::stale::0"],
        embeddings=vec,
        documents=["an older version of a chunk"],
        metadatas=[{"paper_id": c, "chunk_index": 0, "content_hash": "old"}],
    )
    shutil.rmtree(bm25_dir(bot.settings))

    found = bot.doctor()
    got = {ch.name: (ch.status, ch.count) for ch in found.checks}
    assert not found.ok
    assert got["orphan chunks"] == ("problem", 1)
    assert got["stale chunks"] == ("problem", 1)
    assert got["incomplete papers"] == ("problem", 2)
    assert set(found.check("incomplete papers").ids) == {a, b}
    assert found.check("orphan chunks").ids == ["ghost::0"]
    assert got["bm25 index"][0] == "warning"
    assert got["manifest"] == ("ok", 0) and got["chroma counts"] == ("ok", 0)

    repaired = bot.doctor(repair=True)
    assert repaired.ok and all(ch.status == "ok" for ch in repaired.checks), repaired.to_dict()
    assert repaired.repair is not None
    assert repaired.repair["chunks_deleted"] == 2
    assert repaired.repair["papers_reembedded"] == 2
    assert _state(bot) == state0  # exactly the chunks a clean run wrote
    hits = bot.search(papers[1].title, k=3, mode="bm25")
    assert hits and hits[0].paper.id == b
    hits = bot.search(papers[1].title, k=3, mode="dense")
    assert hits and hits[0].paper.id == b


def test_bm25_claiming_current_revision_with_other_papers_is_a_problem(
    built: tuple[PaperBot, dict[str, Any], list[Paper]], embedder: Any
) -> None:
    """Window 3 of bot/index/journal.py: records written, killed before the revision was bumped,
    while a BM25 index saved at that revision exists: it would silently miss the new paper."""
    bot, _state0, papers = built
    home = bot.settings.store.home
    paper_coll, _chunks = _collections(home)
    meta_before = dict(paper_coll.metadata)
    extra = _papers(1, start=40)[0]
    WriteJournal.for_settings(bot.settings).begin([extra.id])  # as ingest does
    bot.store.write(prepare_writes([extra], embedder, bot.settings))
    paper_coll.modify(metadata=meta_before)  # the revision bump never happened
    reader = PaperBot(bot.settings, embedder=embedder, llm=None)
    assert extra.id not in [h.paper.id for h in reader.search(extra.title, k=3, mode="bm25")]
    status = _statuses(reader)
    assert status["bm25 index"] == ("problem", 1)
    assert status["interrupted write"] == ("warning", 1)

    # The next ingest (same input plus the extra paper, all committed) recovers first.
    report = reader.add_papers([*papers, extra])
    assert report.unchanged == 9 and report.added == 0
    assert not journal_notes(bot.settings)
    hits = reader.search(extra.title, k=3, mode="bm25")
    assert hits and hits[0].paper.id == extra.id
    assert all(s == "ok" for s, _ in _statuses(reader).values())


def test_killed_before_record_of_new_paper_leaves_no_orphans(
    built: tuple[PaperBot, dict[str, Any], list[Paper]], embedder: Any
) -> None:
    """Window 1: a new paper's chunks written, its record not; the re-run no longer has it."""
    bot, state0, papers = built
    paper_coll, _chunks = _collections(bot.settings.store.home)
    meta_before = dict(paper_coll.metadata)
    ghost = _papers(1, start=50)[0]
    WriteJournal.for_settings(bot.settings).begin([ghost.id])
    bot.store.write(prepare_writes([ghost], embedder, bot.settings))
    paper_coll.delete(ids=[ghost.id])  # the record write never happened
    paper_coll.modify(metadata=meta_before)
    status = _statuses(bot)
    assert status["orphan chunks"][0] == "problem" and status["orphan chunks"][1] >= 1

    report = bot.add_papers(papers)  # the re-run, without the ghost paper
    assert report.unchanged == 8
    assert _state(bot) == state0
    assert not journal_notes(bot.settings)
    assert _statuses(bot)["bm25 index"][0] == "warning"  # the recovery bumped the revision
    assert bot.search(papers[0].title, k=1)  # ... so the next search rebuilds it
    assert all(s == "ok" for s, _ in _statuses(bot).values())


def test_killed_mid_update_then_reverted_input_converges(
    built: tuple[PaperBot, dict[str, Any], list[Paper]], embedder: Any
) -> None:
    """Window 2: a changed paper's new chunks written and its old ones deleted, its record
    (old hash) not yet replaced; the re-run brings the OLD content back, so its hash matches
    the record and a plain hash check would skip it with the wrong chunks."""
    bot, state0, papers = built
    paper_coll, _chunks = _collections(bot.settings.store.home)
    target = papers[3]
    old = paper_coll.get(ids=[target.id], include=["embeddings", "documents", "metadatas"])
    meta_before = dict(paper_coll.metadata)
    changed = Paper(**{**target.to_dict(), "abstract": target.abstract + " A later addition."})
    WriteJournal.for_settings(bot.settings).begin([target.id])
    bot.store.write(prepare_writes([changed], embedder, bot.settings))
    paper_coll.upsert(  # the old record is back: the new one was never written
        ids=old["ids"],
        embeddings=old["embeddings"],
        documents=old["documents"],
        metadatas=old["metadatas"],
    )
    paper_coll.modify(metadata=meta_before)
    status = _statuses(bot)
    assert status["stale chunks"][0] == "problem"
    assert status["incomplete papers"] == ("problem", 1)

    report = bot.add_papers(papers)  # original content: same hash as the record
    assert report.unchanged == 8 and report.updated == 0
    assert _state(bot) == state0
    assert bot.search(target.title, k=1)[0].paper.id == target.id
    assert all(s == "ok" for s, _ in _statuses(bot).values())


def test_half_written_bm25_index_is_not_trusted(
    built: tuple[PaperBot, dict[str, Any], list[Paper]],
) -> None:
    """A BM25 save killed midway: a partial version folder, a temp pointer file, and CURRENT
    naming a folder that is not there or not complete. Search rebuilds; repair tidies."""
    bot, _state0, papers = built
    directory = bm25_dir(bot.settings)
    want = [(h.paper.id, round(h.score, 4)) for h in bot.search(papers[5].title, mode="bm25")]
    partial = directory / "v-partial"
    partial.mkdir()
    (partial / "meta.json").write_text('{"format": 1, "revis', encoding="utf-8")
    (directory / "CURRENT.v-partial.tmp").write_text("v-partial", encoding="utf-8")
    (directory / "CURRENT").write_text("v-partial", encoding="utf-8")
    assert _statuses(bot)["bm25 index"][0] == "warning"  # unreadable: not trusted
    again = PaperBot(bot.settings, embedder=bot.embedder, llm=None)
    got = [(h.paper.id, round(h.score, 4)) for h in again.search(papers[5].title, mode="bm25")]
    assert got == want
    assert _statuses(again)["bm25 index"] == ("ok", 0)
    (directory / "CURRENT").write_text("v-missing", encoding="utf-8")
    tmp = directory / "CURRENT.v-dead.tmp"
    tmp.write_text("v-dead", encoding="utf-8")
    os.utime(tmp, (0, 0))  # left long ago by a killed save
    assert bot.doctor(repair=True).ok
    assert _statuses(bot)["bm25 index"] == ("ok", 0)
    assert not tmp.exists() and not partial.exists()


def test_doctor_cli_table_exit_codes_and_repair(tmp_path: Path, embedder: Any) -> None:
    home = tmp_path / "home"
    papers = _papers(5)
    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)
    bot.add_papers(papers)
    _paper_coll, chunks = _collections(home)
    victim = bot.store.chunks_of([papers[0].id])[papers[0].id][0].chunk_id
    chunks.delete(ids=[victim])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))},
        "PAPERBOT_HOME": str(home),
        "PAPERBOT_ENV_FILE": str(tmp_path / "none.env"),
        "PAPERBOT_LLM_MODE": "extractive",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "COLUMNS": "200",
    }
    run = subprocess.run(
        [*PAPERBOT, "doctor"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 1, run.stderr
    assert "incomplete papers" in run.stdout and "problem" in run.stdout
    assert "doctor --repair" in run.stdout and "Traceback" not in run.stderr

    run = subprocess.run(
        [*PAPERBOT, "doctor", "--repair", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["ok"] and data["repair"]["papers_reembedded"] == 1
    assert {c["name"]: c["status"] for c in data["checks"]}["incomplete papers"] == "ok"
    assert all(c["status"] == "ok" for c in data["checks"])
