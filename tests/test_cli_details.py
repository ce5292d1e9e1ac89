"""CLI and display details: ``--ids A B C`` and ``--ids A,B,C``; ``--help`` text wrapped as
written; LaTeX debris cleaned in displayed text while quotes keep their exact offsets; date
filters saying how many undated papers they left out (CLI, Python API, HTTP API)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.api import PaperBot
from bot.cli.main import app as cli_app
from bot.index.embeddings import LocalEmbedder
from bot.render import render_digest
from bot.server.app import create_app
from bot.types import Paper
from tests.conftest import abstracts, make_settings

PFGM = "PFGM++: Unlocking the Potential of Physics-Inspired Generative Models"


@pytest.fixture()
def seed_copy(seed_home: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = isolated_env / "home"
    shutil.copytree(seed_home, home, ignore=shutil.ignore_patterns("sessions.sqlite3*"))
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    return home


def test_newsletter_ids_separated_by_spaces_or_commas(seed_copy: Path, seed_bot: PaperBot) -> None:
    ids = sorted(p.id for p in seed_bot.papers())[:3]
    runner = CliRunner()
    spaced = runner.invoke(cli_app, ["newsletter", "--ids", *ids, "--format", "json"])
    assert spaced.exit_code == 0, spaced.output
    commas = runner.invoke(cli_app, ["newsletter", "--ids", ",".join(ids), "--json"])
    assert commas.exit_code == 0, commas.output
    for result in (spaced, commas):
        digest = json.loads(result.stdout)
        got = [p["paper_id"] for s in digest["sections"] for p in s["papers"]]
        assert sorted(got) == ids
    stray = runner.invoke(cli_app, ["newsletter", "--query", "diffusion", "models"])
    assert stray.exit_code == 1
    assert "unexpected extra argument 'models'" in stray.output


def _commands() -> list[list[str]]:
    from bot.cli.main import app

    found: list[list[str]] = []
    for command in app.registered_commands:
        found.append([command.name or command.callback.__name__.replace("_", "-")])
    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            found.append([group.name, command.name or command.callback.__name__])
    return found


def test_help_text_wraps_as_written() -> None:
    """Docstring paragraphs are reflowed to the terminal width: no line of a paragraph ends
    early because the docstring had a hard line break there ("the measured" / "reading level")."""
    runner = CliRunner()
    checked = 0
    for command in _commands():
        result = runner.invoke(cli_app, [*command, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (command, result.output)
        lines = result.output.splitlines()
        start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
        end = next(i for i, line in enumerate(lines) if line.startswith("╭"))
        paragraphs: list[list[str]] = [[]]
        for line in lines[start:end]:
            if line.strip():
                paragraphs[-1].append(line.strip())
            else:
                paragraphs.append([])
        for para in paragraphs:
            for line, following in itertools.pairwise(para):
                if following.startswith(("- ", "* ")):
                    continue  # a list item starts a line of its own
                room = 78 - len(line)  # what rich left free on that line
                assert room <= len(following.split()[0]), (command, line, following)
                checked += 1
    assert checked > 20
    summarize = runner.invoke(cli_app, ["summarize", "--help"], env={"COLUMNS": "80"}).output
    assert "measured reading level" in " ".join(summarize.split())


def test_latex_debris_cleaned_for_display_while_quotes_keep_their_offsets(
    seed_bot: PaperBot,
) -> None:
    answer = seed_bot.ask("How do the PFGM++ models reduce to PFGM and diffusion models?")
    assert "D=1" in answer.answer and "D→∞" in answer.answer
    assert not re.search(r"\{[=+]\}|\{to\}|infty", answer.answer)
    [cited] = [c for c in answer.citations if "D{=}1" in c.quote]
    paper = seed_bot.paper(cited.paper_id)
    assert paper.title == PFGM
    assert paper.text[cited.start : cited.end] == cited.quote  # the quote stays verbatim
    assert "D=1" in cited.display and "{" not in cited.display
    assert cited.to_dict()["display"] == cited.display

    digest = seed_bot.newsletter(ids=[cited.paper_id], use_cache=False)
    for fmt in ("md", "html"):
        shown = render_digest(digest, fmt)
        assert "D{=}1" not in shown and "{to}" not in shown and "N{+}D" not in shown, fmt
        assert "D=1" in shown, fmt


def test_date_filters_say_how_many_undated_papers_they_left_out(
    tmp_path: Path, embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = abstracts(120, 5)
    dated = [Paper(**r, published=f"202{i}-03-01") for i, r in enumerate(rows[:3])]
    undated = [Paper(**r) for r in rows[3:]]
    home = tmp_path / "home"
    settings = make_settings(home, rate_limit_per_minute=0)
    bot = PaperBot(settings, embedder=embedder, llm=None)
    bot.add_papers([*dated, *undated])

    note = "2 papers without a publication date were left out by the date filter"
    assert bot.filter_notes(since="2021")[0].startswith(note)
    assert bot.filter_notes() == [] and bot.filter_notes(categories=["cs.LG"]) == []
    hits = bot.search(rows[3]["title"], since="2021")
    assert rows[3]["id"] not in [h.paper.id for h in hits]
    answer = bot.ask(rows[0]["title"], since="2020", until="2022")
    assert any(n.startswith(note) for n in answer.notes)

    with TestClient(create_app(bot), base_url="http://127.0.0.1") as client:
        data = client.get("/api/search", params={"q": rows[1]["title"], "since": "2021"}).json()
        assert data["notes"] and data["notes"][0].startswith(note)
        assert client.get("/api/search", params={"q": "x"}).json()["notes"] == []

    monkeypatch.setenv("PAPERBOT_HOME", str(home))
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    r = CliRunner().invoke(cli_app, ["search", rows[1]["title"], "--until", "2030", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["notes"][0].startswith(note)
