"""Chroma server mode: the same CLI against a real ``chroma run`` server on 127.0.0.1.

``CHROMA_HOST``/``CHROMA_PORT`` are the only change; ingest, search and ask work through the
server, and two paperbot processes ingesting different files into it at the same time leave
both sets present exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.text.chunking import chunk_paper
from bot.types import Paper
from tests.conftest import SEED, abstracts, chroma_run, cli_env, make_settings

pytestmark = pytest.mark.server

PAPERBOT = str(Path(sys.executable).with_name("paperbot"))


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


def _env(home: Path, port: int, collection: str) -> dict[str, str]:
    return cli_env(
        home, PAPERBOT_COLLECTION=collection, CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port)
    )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAPERBOT, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_ingest_search_and_ask_through_a_chroma_server(tmp_path: Path, chroma_port: int) -> None:
    env = _env(tmp_path / "home", chroma_port, "seedsrv")
    r = _run(env, "ingest", str(SEED), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"] == 54

    r = _run(env, "stats", "--json")
    stats = json.loads(r.stdout)
    assert stats["store"] == f"http://127.0.0.1:{chroma_port}"
    assert stats["papers"] == 54 and stats["chunks"] >= 54
    assert not (tmp_path / "home" / "chroma").exists()  # nothing stored locally

    r = _run(env, "search", "lazy versus rich training and delayed generalization", "--json")
    assert r.returncode == 0, r.stderr
    titles = [x["title"] for x in json.loads(r.stdout)["results"]]
    assert any("Grokking" in t for t in titles[:3])

    r = _run(env, "ask", "What is grokking?", "--json")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert not answer["abstained"] and answer["citations"]
    assert any("Grokking" in c["title"] for c in answer["citations"])

    # a second client with another home (another machine) sees the same store
    other = _env(tmp_path / "elsewhere", chroma_port, "seedsrv")
    r = _run(other, "ingest", str(SEED), "--json")
    assert json.loads(r.stdout)["unchanged"] == 54


def test_two_processes_ingest_concurrently_into_one_server(
    tmp_path: Path, chroma_port: int, embedder: LocalEmbedder
) -> None:
    files, expected_chunks = [], Counter()
    settings = make_settings(tmp_path / "probe")
    for name, start in (("a.jsonl", 0), ("b.jsonl", 80)):
        records = abstracts(start, 80)
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        files.append(path)
        for r in records:
            paper = Paper(id=r["id"], title=r["title"], abstract=r["abstract"])
            expected_chunks[r["id"]] = len(
                chunk_paper(paper, settings.chunking.tokens, settings.chunking.overlap_sentences)
            )

    procs = []
    for i, path in enumerate(files):
        env = _env(tmp_path / f"home{i}", chroma_port, "concurrent")
        procs.append(
            subprocess.Popen(
                [PAPERBOT, "ingest", str(path), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    reports = []
    for proc in procs:
        out, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors
        reports.append(json.loads(out))
    assert [r["added"] for r in reports] == [80, 80]

    reader = PaperBot(
        make_settings(
            tmp_path / "reader",
            chroma_host="127.0.0.1",
            chroma_port=chroma_port,
            collection="concurrent",
        ),
        embedder=embedder,
        llm=None,
    )
    stored = list(reader.store.iter_papers())
    assert sorted(p.id for p in stored) == sorted(expected_chunks)  # each paper exactly once
    assert reader.store.count_chunks() == sum(expected_chunks.values())
    per_paper = reader.store.chunks_of(sorted(expected_chunks))
    assert {pid: len(chunks) for pid, chunks in per_paper.items()} == dict(expected_chunks)
    # both sets are searchable, lexically and densely
    for record in (abstracts(0, 1)[0], abstracts(80, 1)[0]):
        for mode in ("bm25", "dense"):
            hits = reader.search(record["title"], k=3, mode=mode)
            assert record["id"] in [h.paper.id for h in hits], (mode, record["title"])
