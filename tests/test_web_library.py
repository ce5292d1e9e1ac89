"""The web page's library controls in real headless Chromium against a real ``paperbot serve``:
the upload picker offers every format the readers know, the example questions come from the
most recently added papers, and a paper can be removed from its source view (after which it is
gone from the list and the API, and ``paperbot doctor`` finds the store clean)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ingest.readers import READERS
from tests.conftest import abstracts, cli_env
from tests.test_server_api import Server, copy_store, start_server, stop_server
from tests.test_web_page import _css, _wait, driver
from tests.test_web_page import pytestmark as web_page_marks

__all__ = ["driver"]  # the module-scoped Chromium fixture, shared with test_web_page

pytestmark = web_page_marks  # a server test; skipped without Debian's Chromium

NEW = abstracts(150, 2)  # uploaded last: the most recently added papers


@pytest.fixture(scope="module")
def library_server(seed_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server over its own copy of the seed store (papers get removed here)."""
    base = tmp_path_factory.mktemp("library-server")
    server = start_server(copy_store(seed_home, base / "home"), base / "server.log")
    try:
        with server.client() as client:
            for row in NEW:
                r = client.post(
                    "/api/ingest",
                    files={"file": (f"{row['id']}.jsonl", json.dumps(row) + "\n", "text/plain")},
                )
                assert r.status_code == 200 and r.json()["added"] == 1, r.text
        yield server
    finally:
        stop_server(server)


def test_upload_accepts_every_format_and_examples_are_recent(
    driver: Any, library_server: Server
) -> None:
    driver.get(library_server.url + "/")
    _wait(driver, lambda d: _css(d, "#paper-list li"))
    _wait(driver, lambda d: len(_css(d, "#examples button")) == 2)
    examples = [b.text for b in _css(driver, "#examples button")]
    assert sorted(examples) == sorted(f"What does “{r['title']}” propose?" for r in NEW)

    _wait(driver, lambda d: _css(d, "#upload")[0].get_attribute("accept"))
    accept = _css(driver, "#upload")[0].get_attribute("accept").split(",")
    assert accept == [s for reader in READERS.values() for s in reader.suffixes]
    assert {".pdf", ".bib", ".xml", ".csv", ".tsv", ".jsonl", ".md"} <= set(accept)
    label = _css(driver, "#upload-formats")[0].text
    assert all(name in label for name in READERS)


def test_remove_a_paper_from_its_source_view(driver: Any, library_server: Server) -> None:
    victim = NEW[0]
    with library_server.client() as client:
        before = client.get("/api/stats").json()["papers"]
    driver.get(library_server.url + "/")
    _wait(driver, lambda d: _css(d, "#paper-list li"))
    _css(driver, "#paper-filter")[0].send_keys(victim["title"][:40])
    _wait(driver, lambda d: len(_css(d, "#paper-list button")) == 1)
    _css(driver, "#paper-list button")[0].click()
    button = _wait(driver, lambda d: _css(d, "#source-view #remove-paper"))[0]
    assert _css(driver, "#source-view h2")[0].text == victim["title"]
    button.click()
    alert = _wait(driver, lambda d: d.switch_to.alert)
    assert victim["title"] in alert.text
    alert.accept()
    done = f"Removed “{victim['title']}”."
    _wait(driver, lambda d: _css(d, "#library-status")[0].text == done)  # the Papers tab says so
    _wait(driver, lambda d: not _css(d, "#paper-list button"))  # the filter matches nothing now
    assert _css(driver, "#panel-papers")[0].is_displayed()
    # the other new paper is the only recent example left... with the newest seed papers
    _wait(driver, lambda d: all(victim["title"] not in b.text for b in _css(d, "#examples button")))

    with library_server.client() as client:
        assert client.get(f"/api/papers/{victim['id']}").status_code == 404
        assert client.get("/api/stats").json()["papers"] == before - 1
        hits = client.get("/api/search", params={"q": victim["title"], "k": 5}).json()["results"]
        assert victim["id"] not in [h["paper_id"] for h in hits]
    doctor = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "doctor", "--json"],
        env=cli_env(library_server.home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and report["ok"], doctor.stdout
    assert {c["name"]: c["status"] for c in report["checks"]}["orphan chunks"] == "ok"
