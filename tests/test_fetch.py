"""``paperbot fetch arxiv`` against a real HTTP server on 127.0.0.1 replaying saved arXiv API
responses (tests/fixtures/arxiv_api: three pages of one query; tests/fixtures/formats: an empty
result, an error feed, a truncated feed): paging, the delay between requests, retries of a
503 (Retry-After) and of a body cut off in transit, raw responses saved under
$PAPERBOT_HOME/sources/, and ingest through the Atom reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli.main import app as cli_app
from bot.errors import InputError
from bot.ingest.fetch import arxiv_search_query, fetch_arxiv
from bot.settings import Settings
from tests.arxiv_replay import ArxivReplay, Reply
from tests.conftest import ROOT, make_settings

PAGES = ROOT / "tests" / "fixtures" / "arxiv_api"
FORMATS = ROOT / "tests" / "fixtures" / "formats"
IDS = ["2405.04517", "2106.09685", "1706.03762", "1312.6114", "hep-th/9711200"]  # newest first


def _pages() -> list[Reply]:
    return [Reply.file(PAGES / f"page_{i}.xml") for i in range(3)]


def _settings(home: Path, api: ArxivReplay, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "arxiv_api_url": api.url,
        "arxiv_delay": 0.25,
        "arxiv_page_size": 2,
        "arxiv_max_retries": 2,
    }
    values.update(overrides)
    return make_settings(home, **values)


def test_defaults_are_arxivs_endpoint_and_three_seconds() -> None:
    defaults = Settings.model_validate({})
    assert defaults.arxiv.api_url == "https://export.arxiv.org/api/query"
    assert defaults.arxiv.delay == 3.0
    assert arxiv_search_query("grokking lazy") == "all:grokking AND all:lazy"
    assert arxiv_search_query('ti:"lazy training"', ["cs.LG"]) == (
        '(ti:"lazy training") AND cat:cs.LG'
    )
    assert arxiv_search_query("x", ["cs.LG", "stat.ML"], since="2024-06") == (
        "all:x AND (cat:cs.LG OR cat:stat.ML) AND (submittedDate:[202406010000 TO 999912312359])"
    )
    with pytest.raises(InputError, match=r"^since must be a date") as caught:
        arxiv_search_query("x", since="last week")
    assert caught.value.params == ("since",)  # the CLI shows it as --since


def test_pages_politely_and_saves_the_raw_responses(tmp_path: Path) -> None:
    with ArxivReplay(_pages()) as api:
        settings = _settings(tmp_path / "home", api)
        result = fetch_arxiv("models", settings, categories=["cs.LG"], max_results=5)
    assert [p.id for p in result.papers] == IDS
    assert result.failures == [] and result.requests == len(api.seen) == 3
    assert [(s.params["start"], s.params["max_results"]) for s in api.seen] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "1"),
    ]
    first = api.params(0)
    assert first["search_query"] == "all:models AND cat:cs.LG"
    assert (first["sortBy"], first["sortOrder"]) == ("submittedDate", "descending")
    assert api.seen[0].headers["User-Agent"].startswith("paperbot/")
    assert all(gap >= 0.24 for gap in api.gaps()), api.gaps()  # the delay between requests
    # the raw responses, byte for byte, under $PAPERBOT_HOME/sources/arxiv/
    saved = sorted((tmp_path / "home" / "sources" / "arxiv").glob("*.xml"))
    assert saved == sorted(result.files) and len(saved) == 3
    assert [p.read_bytes() for p in saved] == [r.body for r in _pages()]
    assert result.papers[0].source == f"{saved[0]}:10"  # read from the saved file
    assert result.total == 5 and any("5 results" in n for n in result.notes)


def test_since_stops_paging_at_older_papers(tmp_path: Path) -> None:
    with ArxivReplay(_pages()) as api:
        result = fetch_arxiv("models", _settings(tmp_path, api), since="2020", max_results=50)
    assert [p.id for p in result.papers] == IDS[:2]
    assert len(api.seen) == 2  # page 2 holds older papers only: never asked for
    assert "submittedDate:[202001010000 TO 999912312359]" in api.params(0)["search_query"]


def test_a_503_and_a_cut_off_body_are_retried_politely(tmp_path: Path) -> None:
    page = PAGES / "page_0.xml"
    script = [Reply(503, b"busy", retry_after="1"), Reply.file(page, cut=900), Reply.file(page)]
    with ArxivReplay(script) as api:
        result = fetch_arxiv("models", _settings(tmp_path, api), max_results=2)
    assert [p.id for p in result.papers] == IDS[:2] and result.failures == []
    assert len(api.seen) == 3
    gaps = api.gaps()
    assert gaps[0] >= 0.99, gaps  # what Retry-After asked
    assert gaps[1] >= 0.49, gaps  # the delay doubled on the second attempt


def test_a_retry_after_beyond_the_limit_stops_with_one_failure(tmp_path: Path) -> None:
    with ArxivReplay([Reply(503, b"", retry_after="120")]) as api:
        result = fetch_arxiv("models", _settings(tmp_path, api, arxiv_max_wait=5))
    assert len(api.seen) == 1 and result.papers == []
    [failure] = result.failures
    assert failure.path.startswith(api.url) and "HTTP 503" in failure.error
    assert "retry after 120 s" in failure.error and "PAPERBOT_ARXIV_MAX_WAIT" in failure.error


def test_retries_are_bounded(tmp_path: Path) -> None:
    with ArxivReplay([Reply(500, b"oops")]) as api:
        result = fetch_arxiv("models", _settings(tmp_path, api, arxiv_max_retries=2))
    assert len(api.seen) == 3
    [failure] = result.failures
    assert failure.error == "HTTP 500, 3 attempts"


def test_an_error_feed_is_reported_not_retried(tmp_path: Path) -> None:
    with ArxivReplay([Reply.file(FORMATS / "arxiv_error.xml", status=400)]) as api:
        result = fetch_arxiv("id:1234.12345", _settings(tmp_path, api))
    assert len(api.seen) == 1 and result.papers == []
    [failure] = result.failures
    assert failure.error == "arXiv API error: incorrect id format for 1234.12345"
    assert failure.path == str(result.files[0]) and failure.line == 10


def test_an_empty_result_is_a_note_not_a_failure(tmp_path: Path) -> None:
    with ArxivReplay([Reply.file(FORMATS / "arxiv_empty.xml")]) as api:
        result = fetch_arxiv("zzyzxquux", _settings(tmp_path, api))
    assert len(api.seen) == 1
    assert result.papers == [] and result.failures == [] and result.total == 0
    assert any("found no papers" in n for n in result.notes)


def test_a_feed_that_stays_truncated_fails_at_its_line(tmp_path: Path) -> None:
    with ArxivReplay([Reply.file(FORMATS / "arxiv_truncated.xml")]) as api:
        result = fetch_arxiv("models", _settings(tmp_path, api, arxiv_max_retries=1))
    assert len(api.seen) == 2 and result.papers == []
    [failure] = result.failures
    assert failure.path == str(result.files[0]) and failure.line == 49
    assert failure.error.startswith("malformed XML")


def test_fetch_from_the_cli_ingests_and_reports_like_ingest(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = isolated_env / "home"
    for name, value in {
        "PAPERBOT_LLM_MODE": "extractive",
        "PAPERBOT_ARXIV_DELAY": "0.2",
        "PAPERBOT_ARXIV_PAGE_SIZE": "2",
        "PAPERBOT_ARXIV_MAX_RETRIES": "1",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(api: ArxivReplay, *args: str) -> Result:
        monkeypatch.setenv("PAPERBOT_ARXIV_API_URL", api.url)
        return runner.invoke(cli_app, list(args))

    # the third page keeps failing: the first two are ingested, the failure reported, exit 1
    pages = _pages()
    with ArxivReplay([pages[0], pages[1], Reply(503, b"")]) as api:
        r = run(api, "fetch", "arxiv", "models", "--max", "5", "--json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    assert set(report) == {
        "added",
        "updated",
        "merged",
        "unchanged",
        "failed",
        "chunks_written",
        "seconds",
    }
    assert report["added"] == 4 and len(report["failed"]) == 1
    assert report["failed"][0]["error"] == "HTTP 503, 2 attempts"
    assert len(api.seen) == 4

    with ArxivReplay(_pages()) as api:
        r = run(api, "fetch", "arxiv", "models", "--max", "5")
    assert r.exit_code == 0, r.output
    assert "added 1, updated 0, merged 0, unchanged 4, failed 0" in r.stdout
    assert "raw responses saved under" in r.stderr

    r = run(api, "papers", "--json")
    papers = {p["id"]: p for p in json.loads(r.stdout)["papers"]}
    assert sorted(papers) == sorted(IDS)
    assert papers["2106.09685"]["authors"][:2] == ["Edward J. Hu", "Yelong Shen"]
    # a fetch can be undone: remove what one saved response brought
    saved = sorted((home / "sources" / "arxiv").glob("*.xml"))
    source = next(p for p in saved if p.read_bytes() == _pages()[2].body)
    r = run(api, "remove", "--source", str(source), "--json")
    assert r.exit_code == 0, r.output
    assert [p["id"] for p in json.loads(r.stdout)["removed"]] == [IDS[4]]
