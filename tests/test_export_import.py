"""``paperbot export`` / ``import``: JSON Lines round trip through a real store.

Export -> import into an empty home -> export again gives the same lines (apart from the
header's ``exported_at``); bad lines are failures naming their line and the rest imports.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.api import PaperBot
from bot.errors import InputError
from bot.ingest.portability import EXPORT_FORMAT
from bot.ingest.readers import read_file
from bot.types import Paper
from tests.conftest import SEED, cli_env, make_settings

PAPERBOT = [str(Path(sys.executable).parent / "paperbot")]


def _env(home: Path) -> dict[str, str]:
    return cli_env(home)


def _rich_papers() -> list[Paper]:
    """Papers using every field (a full-text one when Paper has body/pages)."""
    names = {f.name for f in dataclasses.fields(Paper)}
    first = Paper(
        id="2406.00001",
        title="Grokking as a phase transition in ünïcode-rich titles",
        abstract="We study grokking. Delayed generalization follows memorization. It is sharp.",
        authors=["Ada Lovelace", "Alan Turing"],
        published="2024-06-01",
        url="https://arxiv.org/abs/2406.00001",
        categories=["cs.LG", "stat.ML"],
        source="listing.txt:3",
    )
    second = Paper(id="t-0123456789abcdef", title="A paper without metadata", abstract="Short.")
    papers = [first, second]
    if {"body", "pages"} <= names:
        body = "Introduction. Grokking was first seen on algorithmic data. " * 8
        full = Paper(
            **{
                **first.to_dict(),
                "id": "2406.00002",
                "title": "A full-text paper",
                "body": body.strip(),
                "pages": [[0, 1], [len(first.abstract) + 2 + 200, 2]],
            }
        )
        papers.append(full)
    return papers


@pytest.fixture(scope="module")
def source_bot(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> PaperBot:
    home = tmp_path_factory.mktemp("export-src") / "home"
    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)
    seed = read_file(SEED).papers[:8]  # real abstracts, plus papers using every field
    assert not bot.add_papers([*seed, *_rich_papers()]).failed
    return bot


def _lines(text: str) -> tuple[dict[str, Any], list[str]]:
    lines = text.splitlines()
    header = json.loads(lines[0])
    return header, lines[1:]


def test_export_import_round_trip(source_bot: PaperBot, tmp_path: Path, embedder: Any) -> None:
    buf = io.StringIO()
    summary = source_bot.export_papers(buf)
    header, body = _lines(buf.getvalue())
    n = source_bot.store.count_papers()
    assert header["format"] == EXPORT_FORMAT and header["version"] == 1
    assert header["embedding_model"] == embedder.name and header["embedding_dim"] == 384
    assert header["papers"] == n == len(body) == summary.papers
    assert header["chunks"] == source_bot.store.count_chunks() == summary.chunks
    first = json.loads(body[0])
    assert set(first) == {"paper", "content_hash", "chunks"}
    assert set(first["paper"]) == {f.name for f in dataclasses.fields(Paper)}
    assert {"id", "index", "sentence_start", "sentence_end", "char_start", "char_end"} <= set(
        first["chunks"][0]
    )
    for line in body:  # no vectors anywhere
        record = json.loads(line)
        keys = set(record) | {k for c in record["chunks"] for k in c}
        assert not {k for k in keys if "embedding" in k or "vector" in k}
    ids = [json.loads(line)["paper"]["id"] for line in body]
    assert ids == sorted(ids)
    rich = {json.loads(line)["paper"]["id"]: json.loads(line)["paper"] for line in body}
    library = {"aliases", "sources", "added", "inputs"}  # the record keeping of bot.library
    for paper in _rich_papers():
        exported = rich[paper.id]
        assert {k: v for k, v in exported.items() if k not in library} == {
            k: v for k, v in dataclasses.asdict(paper).items() if k not in library
        }
        assert exported["inputs"] == [f"{paper.content_hash} {paper.id}"]
        assert exported["added"] and exported["aliases"] == []
    assert rich["2406.00001"]["sources"] == [os.path.abspath("listing.txt") + ":3"]

    path = tmp_path / "export.jsonl"
    path.write_text(buf.getvalue(), encoding="utf-8")
    target = PaperBot(make_settings(tmp_path / "empty"), embedder=embedder, llm=None)
    result = target.import_papers(path)
    assert result.report.added == n and not result.report.failed
    assert result.rechunked == 0  # chunks came out exactly as recorded
    again = io.StringIO()
    target.export_papers(again)
    header2, body2 = _lines(again.getvalue())
    header.pop("exported_at"), header2.pop("exported_at")
    assert header2 == header
    assert body2 == body  # identical content

    # Importing again changes nothing.
    result = target.import_papers(path)
    assert result.report.unchanged == n and result.report.added == 0
    hits = target.search("delayed generalization after memorization", k=3)
    assert "2406.00001" in [h.paper.id for h in hits]


def test_cli_export_and_import_with_bad_lines(source_bot: PaperBot, tmp_path: Path) -> None:
    out = tmp_path / "papers.jsonl"
    run = subprocess.run(
        [*PAPERBOT, "export", "--out", str(out), "--json"],
        env=_env(source_bot.settings.store.home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["papers"] == source_bot.store.count_papers() and summary["path"] == str(out)
    header, body = _lines(out.read_text(encoding="utf-8"))
    good = body[:4]
    broken = [
        "{not json",
        json.dumps({"paper": {"id": "x1", "abstract": "No title."}}),
        json.dumps({"paper": "a string"}),
        json.dumps({"paper": {"id": "x2", "title": "T", "abstract": "A.", "authors": "Me"}}),
        good[0],  # a duplicate id
    ]
    has_pages = "pages" in {f.name for f in dataclasses.fields(Paper)}
    if has_pages:  # the right types, unusable values
        paper = {"id": "x3", "title": "T", "abstract": "One. Two.", "pages": [["a", 1]]}
        broken.append(json.dumps({"paper": paper}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([json.dumps(header), *good, *broken]) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    run = subprocess.run(
        [*PAPERBOT, "import", str(bad), "--json"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    data = json.loads(run.stdout)
    assert data["added"] == 4
    failed = {f["line"]: f["error"] for f in data["failed"]}
    assert sorted(failed) == [6, 7, 8, 9, 10, *([11] if has_pages else [])]
    assert "invalid JSON" in failed[6]
    assert "'title'" in failed[7]
    assert "'paper' must be an object" in failed[8]
    assert "'authors' must be a list" in failed[9]
    assert "duplicate paper id" in failed[10] and "line 2" in failed[10]
    if has_pages:
        assert "unusable paper" in failed[11]
    assert all(f["path"] == str(bad) for f in data["failed"])


def test_import_rejects_a_file_that_is_not_an_export(tmp_path: Path, embedder: Any) -> None:
    bot = PaperBot(make_settings(tmp_path / "home"), embedder=embedder, llm=None)
    path = tmp_path / "papers.jsonl"
    path.write_text(json.dumps({"id": "1", "title": "T", "abstract": "A."}) + "\n")
    with pytest.raises(InputError) as info:
        bot.import_papers(path)
    assert f"{path}:1: not a paperbot export" in str(info.value)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"format": EXPORT_FORMAT, "version": 99}) + "\n")
    with pytest.raises(InputError, match="version 99 is not supported"):
        bot.import_papers(newer)
    with pytest.raises(InputError, match="cannot read"):
        bot.import_papers(tmp_path / "missing.jsonl")
