"""Newsletter digests over the real seed store (extractive), rendering and escaping, the
cache, and the ``paperbot newsletter``/``summarize`` commands as real subprocesses."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from bot.api import PaperBot
from bot.cli.main import app
from bot.generate.newsletter import build_digest, cluster
from bot.ingest.readers import read_file
from bot.render import render_digest
from bot.storage.cache import GenerationCache
from bot.types import Paper
from tests.conftest import SEED

EVIL = Paper(
    id="evil-1",
    title='A <b>Bold</b> Claim & "Quotes" <script>alert(1)</script>',
    abstract=(
        "We propose a new method for testing email safety, called SafeMail. "
        "Our abstract contains <script>alert('xss')</script> and <img src=x onerror=alert(2)> "
        "markup that must never run. "
        "We find that SafeMail blocks every injected script in our tests."
    ),
    url="javascript:alert(3)",
)


def _five_ids(bot: PaperBot) -> list[str]:
    papers = bot.papers()
    return [papers[i].id for i in (0, 7, 19, 33, 50)]


def _check_items_cited(bot: PaperBot, digest) -> None:  # type: ignore[no-untyped-def]
    for item in digest.items:
        abstract = bot.paper(item.paper_id).abstract
        assert 1 <= len(item.citations) <= 3  # a blurb quotes at most three sentences
        for c in item.citations:
            assert abstract[c.start : c.end] == c.quote
            assert f"[{c.n}]" in item.summary
        assert item.supported == item.total >= 1


def test_newsletter_over_five_ids_has_all_titles_and_ids(
    seed_bot: PaperBot, tmp_path: Path
) -> None:
    ids = _five_ids(seed_bot)
    seed_bot._generation_cache = GenerationCache(tmp_path / "gen.sqlite3")
    digest = seed_bot.newsletter(ids=ids, title="Five papers")
    assert [i.paper_id for i in digest.items] == ids
    _check_items_cited(seed_bot, digest)
    assert digest.headline == "Five papers"
    assert len(re.findall(r"[.!?](?:\s|$)", digest.intro)) == 2  # a two-sentence intro
    md = render_digest(digest, "md")
    for pid in ids:
        assert pid in md
    # every title reads as itself once the Markdown is rendered (escapes undone, no markup)
    rendered = MarkdownIt("commonmark").render(md)
    for pid in ids:
        assert html.escape(seed_bot.paper(pid).title, quote=False) in rendered, pid
    data = json.loads(render_digest(digest, "json"))
    assert data["papers"] == 5 and {p["paper_id"] for s in data["sections"] for p in s["papers"]}
    page = render_digest(digest, "html")
    for pid in ids:
        assert html.escape(seed_bot.paper(pid).title) in page
    # re-run: every blurb from the cache
    again = seed_bot.newsletter(ids=ids, title="Five papers")
    assert all(i.cached for i in again.items)
    assert render_digest(again, "md") == md


def test_grouped_newsletter_from_query(seed_bot: PaperBot, tmp_path: Path) -> None:
    seed_bot._generation_cache = GenerationCache(tmp_path / "gen.sqlite3")
    digest = seed_bot.newsletter(
        query="diffusion models and neural network training", top=8, group=True
    )
    assert len(digest.items) == 8 and digest.grouped
    assert len(digest.sections) >= 2
    assert all(s.title and s.items for s in digest.sections)
    assert len({i.paper_id for i in digest.items}) == 8
    _check_items_cited(seed_bot, digest)
    md = render_digest(digest, "md")
    for section in digest.sections:
        assert f"## {section.title}" in md.replace("\\", "")


def test_cluster_separates_obvious_groups() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal([5, 0, 0], 0.1, size=(4, 3))
    b = rng.normal([0, 5, 0], 0.1, size=(3, 3))
    x = np.vstack([a, b])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert cluster(x, 2) == [[0, 1, 2, 3], [4, 5, 6]]


def test_html_escapes_paper_text_and_has_no_scripts(seed_bot: PaperBot) -> None:
    digest = build_digest(
        [EVIL, seed_bot.find_paper("Merging Models with Fisher-Weighted Averaging")],
        verifier=seed_bot.verifier,
        llm=None,
        settings=seed_bot.settings,
    )
    page = render_digest(digest, "html")
    assert "<script" not in page.lower()
    assert "<img" not in page.lower() and "<b>" not in page
    assert "javascript:" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;" in page  # both are in the title
    assert html.escape(EVIL.title) in page
    assert page.startswith("<!DOCTYPE html>") and "style=" in page
    assert "<link" not in page and "src=" not in page.replace("src=x", "")  # self-contained
    md = render_digest(digest, "md")
    assert "<script" not in md and "](javascript:" not in md
    quote = next(c.quote for c in digest.items[0].citations if "script" in c.quote)
    assert quote in EVIL.abstract  # the JSON keeps the verbatim quote


def _run(*args: str) -> Result:
    """The real ``paperbot`` command in-process (the environment comes from isolated_env)."""
    return CliRunner().invoke(app, list(args))


def test_cli_newsletter_and_summarize(isolated_env: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    listing = isolated_env / "few.txt"
    papers = read_file(SEED).papers
    chosen = papers[:4] + [p for p in papers if p.title.startswith("Benign Overfitting")]
    chosen.append(EVIL)
    listing.write_text(
        "Trending papers\n\n" + "".join(f"{p.title}\n\n{p.abstract}\n\n" for p in chosen),
        encoding="utf-8",
    )
    out = isolated_env / "digest.html"
    r = _run("newsletter", "--from", str(listing), "--format", "html", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert "wrote" in r.stderr and "6 papers" in " ".join(r.stderr.split())
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    for p in chosen[:5]:
        assert html.escape(p.title) in page

    ids = [read_file(listing).papers[i].id for i in range(5)]
    r = _run("newsletter", "--ids", ",".join(ids[:3]), "--ids", ids[3], "--ids", ids[4], "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["papers"] == 5 and data["cached"] == 5  # blurbs from the first run's cache
    items = [p for s in data["sections"] for p in s["papers"]]
    assert [i["paper_id"] for i in items] == ids
    assert [i["title"] for i in items] == [p.title for p in chosen[:5]]

    r = _run("summarize", "Symmetries and Asymptotically Flat Space", "--json")
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["mode"] == "extractive" and result["readability"]["fkgl"] > 0
    assert all(c["quote"] in chosen[1].abstract for c in result["citations"])

    r = _run("summarize", "grokking")  # two titles contain it
    assert r.exit_code == 1
    lines = [ln for ln in r.stderr.splitlines() if "Loading weights" not in ln and ln.strip()]
    first = next(i for i, ln in enumerate(lines) if "matches 2 papers" in ln)
    assert len(lines) - first >= 3  # the error line, then one line per candidate
    assert "Traceback" not in r.stderr

    r = _run("newsletter")
    assert r.exit_code == 1 and "exactly one of" in r.stderr


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_every_format_renders_an_empty_glossary_digest(seed_bot: PaperBot, fmt: str) -> None:
    digest = build_digest([EVIL], verifier=seed_bot.verifier, llm=None, settings=seed_bot.settings)
    assert render_digest(digest, fmt).strip()
