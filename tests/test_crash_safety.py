"""Crash safety: a real ``paperbot ingest`` killed with SIGKILL, then re-run, ends exactly as a
clean run (same papers, same chunks, no orphans, no duplicates, the store opens and answers).

Kill points come from a seeded RNG and are spread over a clean run's duration (model loading,
embedding, Chroma writes). Some kills are aimed at the middle of a store write: they wait for the
write journal of :mod:`bot.index.journal` to appear (it exists exactly while a batch is being
written) and kill a random few milliseconds later. One more scenario starts from the finished
store, ingests a version of the corpus with changed abstracts, is killed mid-write, and resumes
with the *original* corpus - the case where a paper's record still matches the input while its
chunks were already replaced. Batches are small (PAPERBOT_INGEST_BATCH_PAPERS) so a run has
several commit points.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.api import PaperBot
from bot.index.journal import journal_notes
from tests.conftest import abstracts, cli_env, make_settings

PAPERBOT = [sys.executable, "-m", "bot.cli.main"]
N_PAPERS = 24
BATCH = 4  # papers per store write: 6 commit points per run
SEED = 20260607
TIMED_KILLS = 3  # at random times over the run
WRITE_KILLS = 1  # aimed at a store write in progress (+1 in the changed-content scenario)
QUERY_PAPERS = (2, 13, 22)  # corpus positions whose titles are the test queries


def _corpus(path: Path, changed: int = 0) -> Path:
    """N_PAPERS real abstracts as JSONL; the first ``changed`` get an extra sentence."""
    rows = abstracts(0, N_PAPERS)
    for row in rows[:changed]:
        row["abstract"] += " This sentence was added in a later version of the record."
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _env(home: Path) -> dict[str, str]:
    return cli_env(home, PAPERBOT_INGEST_BATCH_PAPERS=str(BATCH))


def _ingest(home: Path, corpus: Path) -> dict[str, Any]:
    """A complete CLI ingest; returns its JSON report (plus ``recovered``: the line it logged
    when it first reconciled an interrupted write, see bot/index/journal.py)."""
    done = subprocess.run(
        [*PAPERBOT, "ingest", str(corpus), "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    lines = [ln for ln in done.stderr.splitlines() if "recovered an interrupted write" in ln]
    report["recovered"] = lines[0].strip() if lines else ""
    return report


def _reference_run(home: Path, corpus: Path) -> tuple[dict[str, Any], float, float]:
    """The clean run: its report, its duration and when its first store write began."""
    settings_ = make_settings(home)
    out, err = home.parent / "reference.out", home.parent / "reference.err"
    with open(out, "w", encoding="utf-8") as fo, open(err, "w", encoding="utf-8") as fe:
        proc = subprocess.Popen(
            [*PAPERBOT, "ingest", str(corpus), "--json"], env=_env(home), stdout=fo, stderr=fe
        )
    t0 = time.monotonic()
    first_write = 0.0
    while proc.poll() is None:
        if not first_write and bool(journal_notes(settings_)):
            first_write = time.monotonic() - t0
        time.sleep(0.003)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, err.read_text(encoding="utf-8")[-3000:]
    assert first_write > 0, "never saw the write journal of the clean run"
    return json.loads(out.read_text(encoding="utf-8")), seconds, first_write


@dataclass
class Kill:
    how: str  # "timed" or "in-write"
    at: float  # seconds after start when SIGKILL was sent
    mid_write: bool  # the write journal existed at the kill (a batch was being written)
    committed: int = 0  # papers already committed (the resume found them unchanged)
    recovered: str = ""  # what the resume's crash recovery did


def _ingest_killed(
    home: Path, corpus: Path, delay: float, in_write: bool, rng: random.Random
) -> Kill | None:
    """Start an ingest, SIGKILL it after ``delay`` s (with ``in_write``: at the next store write
    after that, a random 0-50 ms in; a write of 4 papers takes ~70 ms). None when it
    finished before the kill."""
    settings_ = make_settings(home)
    log = home.parent / f"{home.name}.killed.log"
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            [*PAPERBOT, "ingest", str(corpus), "--json"],
            env=_env(home),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    t0 = time.monotonic()
    try:
        time.sleep(delay)
        if in_write:
            while proc.poll() is None and not bool(journal_notes(settings_)):
                time.sleep(0.003)
            time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is not None:
            return None
        mid_write = bool(journal_notes(settings_))
        proc.send_signal(signal.SIGKILL)
        at = time.monotonic() - t0
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        return Kill(
            "in-write" if in_write else "timed", at, mid_write or bool(journal_notes(settings_))
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _snapshot(home: Path, embedder: Any, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """Everything compared between a resumed store and the clean reference."""
    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)
    store = bot.store
    papers = dict(store.iter_paper_records())
    chunks = list(store.iter_chunk_records())
    chunk_ids = [cid for cid, _ in chunks]
    searches: dict[str, Any] = {}
    for pid, query in queries:
        dense = bot.search(query, k=5, mode="dense")
        bm25 = bot.search(query, k=5, mode="bm25")
        hybrid = bot.search(query, k=5)
        searches[pid] = {
            "dense": [h.paper.id for h in dense],
            "dense_scores": [round(h.score, 3) for h in dense],
            "bm25": [(h.paper.id, round(h.score, 4)) for h in bm25],
            "hybrid": [h.paper.id for h in hybrid],
        }
    doctor = bot.doctor()
    return {
        "papers": {pid: (m.get("content_hash"), m.get("n_chunks")) for pid, m in papers.items()},
        "chunk_ids": sorted(chunk_ids),
        "duplicates": len(chunk_ids) - len(set(chunk_ids)),
        "orphans": sorted(cid for cid, m in chunks if m.get("paper_id") not in papers),
        "counts": (store.count_papers(), store.count_chunks()),
        "search": searches,
        "doctor": {c.name: c.status for c in doctor.checks},
    }


def _compare(got: dict[str, Any], ref: dict[str, Any], label: str) -> tuple[int, int]:
    """Assert ``got`` equals the reference; returns (papers lost, extra chunks)."""
    lost = len(set(ref["papers"]) - set(got["papers"]))
    extra = len(set(got["chunk_ids"]) - set(ref["chunk_ids"])) + got["duplicates"]
    assert got["counts"] == ref["counts"], label
    assert set(got["papers"]) == set(ref["papers"]), label
    assert got["papers"] == ref["papers"], f"{label}: content hashes / chunk counts differ"
    assert got["chunk_ids"] == ref["chunk_ids"], label
    assert got["duplicates"] == 0 and got["orphans"] == [], label
    for pid, res in got["search"].items():
        want = ref["search"][pid]
        assert pid in res["dense"][:3] and pid in [p for p, _ in res["bm25"][:3]], (label, pid)
        assert res["bm25"] == want["bm25"], f"{label}: BM25 disagrees for {pid}"
        assert res["dense"] == want["dense"], f"{label}: dense ranking differs for {pid}"
        assert res["dense_scores"] == pytest.approx(want["dense_scores"], abs=2e-3), label
        assert res["hybrid"] == want["hybrid"], f"{label}: hybrid ranking differs for {pid}"
    assert set(got["doctor"].values()) == {"ok"}, f"{label}: doctor says {got['doctor']}"
    return lost, extra


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("crash")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_sigkilled_ingest_resumes_to_the_clean_result(workdir: Path, embedder: Any) -> None:
    corpus = _corpus(workdir / "corpus.jsonl")
    titles = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    queries = [(titles[i]["id"], titles[i]["title"]) for i in QUERY_PAPERS]
    rng = random.Random(SEED)
    started = time.monotonic()

    # The clean reference run (its timing spreads the kill points).
    ref_home = workdir / "reference"
    clean, clean_seconds, first_write = _reference_run(ref_home, corpus)
    assert clean["added"] == N_PAPERS and not clean["failed"]
    pristine = workdir / "reference-copy"
    shutil.copytree(ref_home, pristine)  # before this process opens it
    reference = _snapshot(ref_home, embedder, queries)
    assert reference["counts"][0] == N_PAPERS

    # Kill points: one before the first store write (model loading, first embeddings), the
    # other TIMED_KILLS-1 stratified over the writing part of the run, then WRITE_KILLS aimed
    # at a store write in progress.
    span = clean_seconds * 0.9
    plan = [(rng.uniform(0.2, first_write), False)]
    step = (span - first_write) / (TIMED_KILLS - 1)
    plan += [
        (rng.uniform(first_write + step * i, first_write + step * (i + 1)), False)
        for i in range(TIMED_KILLS - 1)
    ]
    plan += [(rng.uniform(first_write / 2, span * 0.8), True) for _ in range(WRITE_KILLS)]
    kills: list[Kill] = []
    lost = extra = 0
    for i, (delay, in_write) in enumerate(plan):
        home = workdir / f"kill-{i}"
        kill = _ingest_killed(home, corpus, delay, in_write, rng)
        if kill is None:  # finished first (a slow clean run): kill the next one earlier
            kill = _ingest_killed(workdir / f"kill-{i}b", corpus, delay / 2, in_write, rng)
            home = workdir / f"kill-{i}b"
        assert kill is not None, f"ingest finished before {delay:.1f}s twice"
        resumed = _ingest(home, corpus)
        assert not resumed["failed"]
        kill.committed, kill.recovered = resumed["unchanged"], resumed["recovered"]
        assert resumed["added"] + resumed["unchanged"] == N_PAPERS
        got = _snapshot(home, embedder, queries)
        n_lost, n_extra = _compare(got, reference, f"kill {i} ({kill})")
        lost, extra = lost + n_lost, extra + n_extra
        kills.append(kill)

    # Changed content, killed mid-write, resumed with the original corpus.
    changed = _corpus(workdir / "changed.jsonl", changed=2 * BATCH)
    home = workdir / "revert"
    shutil.copytree(pristine, home)
    kill = _ingest_killed(home, changed, rng.uniform(0.5, 3.0), True, rng)
    assert kill is not None
    kill.how = "in-write, changed->original"
    resumed = _ingest(home, corpus)
    kill.committed, kill.recovered = resumed["unchanged"], resumed["recovered"]
    got = _snapshot(home, embedder, queries)
    n_lost, n_extra = _compare(got, reference, f"revert ({kill})")
    lost, extra = lost + n_lost, extra + n_extra
    kills.append(kill)

    total = time.monotonic() - started
    print(
        f"\nclean run {clean_seconds:.1f}s (first store write at {first_write:.1f}s), "
        f"{N_PAPERS} papers, {reference['counts'][1]} chunks"
    )
    for k in kills:
        print(
            f"  kill {k.how:28} at {k.at:5.2f}s  mid-write={k.mid_write!s:5}  "
            f"committed before kill={k.committed:3}  {k.recovered.split(': ', 1)[-1]}"
        )
    print(f"kills survived {len(kills)}, papers lost {lost}, duplicate/orphan chunks {extra}")
    print(f"total {total:.0f}s")
    assert len(kills) >= 5 and lost == 0 and extra == 0
    assert any(k.mid_write for k in kills), "no kill landed in a store write"
    assert all(k.recovered for k in kills if k.mid_write)  # a noted write is always reconciled
