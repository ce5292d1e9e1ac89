"""The paperbot command, run as a real subprocess the way a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SEED

PAPERBOT = shutil.which("paperbot", path=str(Path(sys.executable).parent)) or "paperbot"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAPERBOT, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_cli_end_to_end(isolated_env: Path) -> None:
    os.environ["PAPERBOT_LLM_MODE"] = "extractive"
    r = run("ingest", str(SEED), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        **json.loads(r.stdout),
        "added": 54,
        "updated": 0,
        "unchanged": 0,
        "failed": [],
    }
    r = run("ingest", str(SEED))
    assert r.returncode == 0 and "unchanged 54" in r.stdout

    r = run("search", "lazy versus rich regime and delayed generalization", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    assert len(results) == 3
    assert set(results[0]) == {"paper_id", "title", "score", "text"}
    assert any("Grokking" in x["title"] for x in results)

    r = run("ask", "What is grokking?", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key in ("answer", "citations", "abstained", "verified", "mode", "model", "usage"):
        assert key in data
    assert data["mode"] == "extractive" and not data["abstained"]
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens"}
    assert data["verified"]["supported"] >= 1
    for c in data["citations"]:
        assert {"n", "paper_id", "title", "quote"} <= set(c)

    r = run("ask", "What is grokking?")
    assert r.returncode == 0
    assert "Sources" in r.stdout and "[1]" in r.stdout

    r = run("papers", "--json")
    papers = json.loads(r.stdout)["papers"]
    assert len(papers) == 54 and {"id", "title", "abstract"} <= set(papers[0])

    r = run("stats", "--json")
    stats = json.loads(r.stdout)
    assert stats["papers"] == 54 and stats["chunks"] >= 54
    assert stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert str(isolated_env / "home") in stats["store"]


def test_cli_user_errors_are_one_line_exit_1(isolated_env: Path) -> None:
    os.environ["PAPERBOT_LLM_MODE"] = "extractive"
    r = run("ask", "What is grokking?")
    assert r.returncode == 1
    assert "no papers" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    bad = isolated_env / "bad.jsonl"
    bad.write_text('{"id": "1", "title": "T", "abstract": "Fine abstract text."}\n{oops\n')
    r = run("ingest", str(bad), str(isolated_env / "missing.json"), "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["added"] == 1
    lines = {(Path(f["path"]).name, f["line"]) for f in report["failed"]}
    assert ("bad.jsonl", 2) in lines
    assert any(name == "missing.json" for name, _ in lines)

    r = run("ask", "   ")
    assert r.returncode == 1 and "empty" in r.stderr and "Traceback" not in r.stderr

    r = run("stats", env={"PAPERBOT_TOP_K": "many"})
    assert r.returncode == 1 and "PAPERBOT_TOP_K" in r.stderr and "Traceback" not in r.stderr


def test_public_api_exports() -> None:
    import bot

    for name in bot.__all__:
        assert hasattr(bot, name), name
    assert "PaperBot" in bot.__all__
