"""Hostile files and requests, bounded (issue 16, findings 4, 6 and 8), on the real app.

``TestClient(create_app(...))`` is the real app (middleware included) on a real embedded
store; the CLI cases run real ``paperbot`` processes. Every test names the finding it guards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.api import PaperBot
from bot.errors import ConfigError, StoreError
from bot.index.embeddings import LocalEmbedder
from bot.index.store import explain_store_error
from bot.server import create_app
from bot.settings import load_settings
from tests.conftest import cli_env, free_port, make_settings
from tests.corpus import variant_records, write_jsonl
from tests.hostile_files import slow_pdf, zlib_bomb_pdf

PAPERBOT = str(Path(sys.executable).with_name("paperbot"))
BASE = "http://127.0.0.1:8000"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_home(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Path:
    home = tmp_path_factory.mktemp("hardening") / "home"
    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)
    path = write_jsonl(home.parent / "five.jsonl", variant_records(5, "h"))
    assert bot.ingest([path]).added == 5
    return home


@pytest.fixture()
def client(small_home: Path, tmp_path: Path, embedder: LocalEmbedder) -> Iterator[TestClient]:
    home = tmp_path / "home"
    shutil.copytree(small_home, home)
    settings = make_settings(home, parse_timeout=5, rate_limit_per_minute=0)
    bot = PaperBot(settings, embedder=embedder, llm=None)
    with TestClient(create_app(bot), base_url=BASE) as c:
        yield c


def _upload(client: TestClient, name: str, data: bytes, **headers: str) -> object:
    return client.post("/api/ingest", files={"file": (name, data, "a/b")}, headers=headers)


# --- finding 4: hostile PDFs ------------------------------------------------------------------
def test_zlib_bomb_and_slow_pdf_uploads_are_refused_by_name(
    client: TestClient, tmp_path: Path
) -> None:
    bomb = zlib_bomb_pdf(tmp_path / "bomb.pdf")
    assert bomb.stat().st_size < 300_000
    r = _upload(client, "bomb.pdf", bomb.read_bytes())
    assert r.status_code == 422, r.text  # was 500 (LimitReachedError uncaught)
    failure = r.json()["failed"][0]
    assert failure["path"] == "bomb.pdf"
    # pypdf's limit, or the time budget on a machine too slow to reach the limit in 5 s
    assert "decompression bomb" in failure["error"] or "PARSE_TIMEOUT" in failure["error"]

    slow = slow_pdf(tmp_path / "slow.pdf", ops=3_000_000)
    # small for what it makes a parser do (42 MB of operators); zlib builds differ in ratio
    assert slow.stat().st_size < 100_000
    import threading

    outcome: dict[str, object] = {}

    def upload() -> None:
        response = _upload(client, "slow.pdf", slow.read_bytes())
        outcome["status"], outcome["body"] = response.status_code, response.json()
        outcome["done"] = time.monotonic()

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.5)
    # no lock is held while the file is parsed: other requests are answered meanwhile
    stats = client.get("/api/stats")
    answered = time.monotonic()
    thread.join(timeout=900)
    assert stats.status_code == 200 and stats.json()["papers"] == 5
    assert answered < outcome["done"], "the stats request waited for the parse"  # type: ignore[operator]
    assert outcome["status"] == 422, outcome
    assert "PAPERBOT_PARSE_TIMEOUT" in outcome["body"]["failed"][0]["error"]  # type: ignore[index]
    # rejected uploads left nothing behind
    assert not list((Path(client.app.state.settings.store.home) / "uploads").iterdir())


def test_folder_ingest_skips_hostile_pdfs_and_keeps_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    zlib_bomb_pdf(folder / "a_bomb.pdf")
    slow_pdf(folder / "b_slow.pdf", ops=3_000_000)
    shutil.copy(ROOT / "tests" / "fixtures" / "pdf" / "adapters_2406.04321.pdf", folder)
    write_jsonl(folder / "c.jsonl", variant_records(2, "fold"))
    env = cli_env(tmp_path / "home", PAPERBOT_PARSE_TIMEOUT="5")
    done = subprocess.run(
        [PAPERBOT, "ingest", str(folder), "--json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["added"] == 3  # the valid PDF and the two records
    errors = {Path(f["path"]).name: f["error"] for f in report["failed"]}
    assert set(errors) == {"a_bomb.pdf", "b_slow.pdf"}, errors
    assert any(w in errors["a_bomb.pdf"] for w in ("decompression bomb", "PARSE_TIMEOUT"))
    assert "PAPERBOT_PARSE_TIMEOUT" in errors["b_slow.pdf"]


def test_pdf_over_the_memory_budget_is_skipped(tmp_path: Path) -> None:
    from bot.ingest.readers.isolated import ParseWorker

    bomb = zlib_bomb_pdf(tmp_path / "bomb.pdf", mb=60)  # under pypdf's limit, over 100 MB
    with ParseWorker(timeout=60, memory_mb=100) as worker:
        result = worker.read(bomb)
        assert not result.papers
        assert "PAPERBOT_PARSE_MEMORY_MB" in result.failures[0].error, result.failures
        good = worker.read(ROOT / "tests" / "fixtures" / "pdf" / "adapters_2406.04321.pdf")
        assert len(good.papers) == 1  # a new worker took over


def test_every_reader_reports_hostile_nesting_instead_of_raising(tmp_path: Path) -> None:
    from bot.ingest.readers import read_file

    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    deep_xml = tmp_path / "deep.xml"
    deep_xml.write_text("<a>" * 200_000 + "</a>" * 200_000, encoding="utf-8")
    for path in (deep_json, deep_xml):
        result = read_file(path)
        assert not result.papers and len(result.failures) == 1, result
        assert result.failures[0].path == str(path)


# --- finding 6: browser-origin attacks --------------------------------------------------------
def test_host_header_must_be_an_allowed_host(client: TestClient) -> None:
    r = client.get("/api/stats", headers={"host": "rebind.evil.example"})
    assert r.status_code == 421 and "PAPERBOT_ALLOWED_HOSTS" in r.json()["detail"]
    assert client.get("/", headers={"host": "rebind.evil.example:8000"}).status_code == 421
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/healthz", headers={"host": host}).status_code == 200, host


def test_cross_site_posts_are_refused_without_a_key(client: TestClient) -> None:
    record = json.dumps(variant_records(1, "csrf")[0]).encode()
    evil = _upload(client, "x.jsonl", record, origin="http://evil.example")
    assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
    blind = _upload(client, "x.jsonl", record, **{"sec-fetch-site": "cross-site"})
    assert blind.status_code == 403
    assert client.get("/api/stats").json()["papers"] == 5  # nothing was ingested
    same = _upload(client, "x.jsonl", record, origin=BASE)
    assert same.status_code == 200, same.text
    assert client.get("/api/search", params={"q": "x"}, headers={"origin": "http://e.x"}).is_success


def test_origin_is_not_checked_when_a_key_is_required(
    small_home: Path, tmp_path: Path, embedder: LocalEmbedder
) -> None:
    shutil.copytree(small_home, tmp_path / "home")
    settings = make_settings(tmp_path / "home", api_key="k-123", rate_limit_per_minute=3)
    app = create_app(PaperBot(settings, embedder=embedder, llm=None))
    with TestClient(app, base_url=BASE) as c:
        auth = {"authorization": "Bearer k-123", "origin": "http://other.example"}
        assert c.post("/api/ask", json={"question": "grokking?"}, headers=auth).status_code != 403
        # wrong keys are rate-limited like everything else (they were never before)
        wrong = [c.get("/api/stats", headers={"authorization": "Bearer no"}) for _ in range(4)]
        assert [r.status_code for r in wrong][-1] == 429
        # X-Forwarded-For does not pick another bucket
        spoofed = c.get("/api/stats", headers={**auth, "x-forwarded-for": "10.9.8.7"})
        assert spoofed.status_code == 429


def test_serve_on_all_interfaces_without_a_key_refuses(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    done = subprocess.run(
        [PAPERBOT, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr


# --- finding 8: the smaller ones --------------------------------------------------------------
def test_lone_surrogate_question_is_a_422(client: TestClient) -> None:
    r = client.post(
        "/api/ask",
        content=b'{"question": "What is \\ud800 grokking?"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text  # was a 500 with a traceback
    assert r.json()["detail"][0]["loc"] == ["body", "question"]


def test_lone_surrogate_on_the_command_line_is_one_clean_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [PAPERBOT, "ask", b"What is \xff grokking?"],  # type: ignore[list-item]
        env=cli_env(tmp_path / "home"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "invalid character" in done.stderr


def test_non_ascii_upload_names_keep_their_suffix(client: TestClient) -> None:
    record = json.dumps(variant_records(1, "jp")[0]).encode()
    r = _upload(client, "名前.jsonl", record)
    assert r.status_code == 200, r.text  # was 415
    source = client.get(f"/api/papers/{variant_records(1, 'jp')[0]['id']}").json()["source"]
    assert source == "upload.jsonl:1"  # no server path


def test_non_ascii_api_key_is_refused_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PAPERBOT_API_KEY"):
        load_settings(env_file=tmp_path / "none.env", home=tmp_path, api_key="clé-secrète")
    env = cli_env(tmp_path / "home", PAPERBOT_API_KEY="clé-secrète")
    done = subprocess.run(
        [PAPERBOT, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "PAPERBOT_API_KEY" in done.stderr


def test_rejected_uploads_leave_nothing_and_api_output_has_no_server_paths(
    client: TestClient,
) -> None:
    home = Path(client.app.state.settings.store.home)
    assert _upload(client, "bad.jsonl", b"{not json\n").status_code == 422
    assert _upload(client, "x.exe", b"MZ").status_code == 415
    assert not (home / "uploads").exists() or not list((home / "uploads").iterdir())
    stats = client.get("/api/stats").json()
    assert stats["store"] == "embedded" and str(home) not in json.dumps(stats)
    papers = client.get("/api/papers").json()["papers"]
    assert papers and all(str(home) not in json.dumps(p) for p in papers)
    assert all("/" not in (p["source"] or "") for p in papers)


def test_stats_with_the_chroma_server_down_is_a_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", chroma_host="127.0.0.1", chroma_port=free_port())
    with TestClient(create_app(settings=settings), base_url=BASE) as c:
        r = c.get("/api/stats")
    assert r.status_code == 503, r.text  # was 500
    assert "Chroma server" in r.json()["detail"]


def test_store_errors_are_one_line_and_say_disk_full(tmp_path: Path) -> None:
    import sqlite3

    full = sqlite3.OperationalError("database or disk is full")
    assert explain_store_error(full, "writing", "/x").startswith("disk full: ")
    assert "disk" in explain_store_error(OSError(28, "No space left on device"), "w", "/x")
    garbled = tmp_path / "home" / "chroma"
    garbled.mkdir(parents=True)
    (garbled / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    done = subprocess.run(
        [PAPERBOT, "stats"], env=cli_env(tmp_path / "home"), capture_output=True, text=True
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "damaged" in lines[0], done.stderr
    with pytest.raises(StoreError):
        raise StoreError(explain_store_error(full, "w", "/x"))


def test_escape_codes_in_papers_never_reach_the_terminal(tmp_path: Path) -> None:
    record = {
        "id": "esc-1",
        "title": "Evil \x1b[2J\x1b[31mTitle\x1b]0;pwned\x07",
        "abstract": "We study things. \x1b[8mHidden text.\x1b[0m Results hold.",
    }
    path = tmp_path / "esc.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    env = cli_env(tmp_path / "home")
    assert subprocess.run([PAPERBOT, "ingest", str(path)], env=env).returncode == 0
    for args in (["papers"], ["ask", "What do they study?"], ["search", "things"]):
        out = subprocess.run([PAPERBOT, *args], env=env, capture_output=True, text=True).stdout
        assert "\x1b" not in out and "\x07" not in out, (args, out)
        assert "Evil Title" in out, (args, out)  # the paper is shown, its codes stripped
