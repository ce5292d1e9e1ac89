"""Errors: library messages name parameters (the CLI says flags), the server picks the HTTP
status by the error's type, and unknown ids raise NotFoundError."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient

from bot.api import PaperBot
from bot.cli.app import error_text, flag_for, run_or_exit
from bot.errors import (
    ConfigError,
    EmbeddingMismatchError,
    EmptyStoreError,
    InputError,
    LLMError,
    LLMUnavailableError,
    MissingExtraError,
    NotFoundError,
    PaperbotError,
    ReaderError,
    StoreError,
)
from bot.generate.summarize import summary_options
from bot.index.filters import SearchFilter
from bot.server import create_app
from bot.server.app import status_for
from bot.storage.sessions import SessionStore
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("no paper with id 'x'"), 404),
        (NotFoundError("anything at all"), 404),  # the type decides, not the text
        (InputError("no paper with id 'x'"), 422),  # an InputError with that text stays 422
        (ReaderError("bad line", "a.json", 3), 422),
        (EmptyStoreError("empty"), 409),
        (EmbeddingMismatchError("other model"), 503),
        (StoreError("down"), 503),
        (ConfigError("bad setting"), 503),
        (MissingExtraError("onnx"), 503),
        (LLMError("model failed"), 502),
        (LLMUnavailableError("no model"), 502),
        (PaperbotError("other"), 500),
    ],
)
def test_status_by_error_type(error: PaperbotError, status: int) -> None:
    assert status_for(error) == status


def test_not_found_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no session with id 'nope'") as caught:
        SessionStore(tmp_path / "sessions.sqlite3").get("nope")
    assert isinstance(caught.value, InputError)  # `except InputError` still catches it


def test_library_messages_name_parameters(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(InputError) as caught:
        summary_options(settings, None, 40, None, "summary")
    assert str(caught.value) == "grade must be between 0 and 30, not 40"
    assert caught.value.params == ("grade",)
    with pytest.raises(InputError) as caught:
        SearchFilter.build(since="2024", until="2023")
    assert str(caught.value) == "since 2024 is after until 2023"
    assert caught.value.params == ("since", "until")


@pytest.mark.parametrize(
    ("message", "params", "shown"),
    [
        ("grade must be between 0 and 30, not 40", ["grade"], "--grade must be between"),
        ("max_results must be at least 1", ["max_results"], "--max must be at least 1"),
        ("from_file: no such file: top.txt", ["from_file"], "--from: no such file: top.txt"),
        (
            "give exactly one of query, ids or from_file",
            ["query", "ids", "from_file"],
            "give exactly one of --query, --ids or --from",
        ),
        ("since 2024 is after until 2023", ["since", "until"], "--since 2024 is after --until"),
        # a word that is not a listed parameter stays as it is
        ("grade must be a number", [], "grade must be a number"),
        # only whole words: "top" inside "laptop" or "top-k" is not the parameter
        ("laptop top-k top must be at least 1", ["top"], "laptop top-k --top must be"),
    ],
)
def test_cli_says_flags(message: str, params: list[str], shown: str) -> None:
    assert error_text(InputError(message, params=params)).startswith(shown)


def test_flag_for() -> None:
    assert flag_for("grade") == "--grade"
    assert flag_for("chat_history") == "--chat-history"
    assert flag_for("from_file") == "--from"


def test_cli_error_line_uses_flags(capsys: pytest.CaptureFixture[str]) -> None:
    def fail() -> None:
        SearchFilter.build(since="2024", until="2023")

    with pytest.raises(typer.Exit):
        run_or_exit(fail)
    assert "error: --since 2024 is after --until 2023" in capsys.readouterr().err


def test_server_statuses_by_type(seed_bot: PaperBot) -> None:
    """The real app over the seed store: unknown paper, session and reference are 404 (by the
    NotFoundError type), a bad value is 422 and names the parameter, not a flag."""
    with TestClient(create_app(seed_bot), base_url="http://127.0.0.1") as client:
        paper = client.get("/api/papers/no-such-paper")
        assert paper.status_code == 404 and "no paper with id" in paper.json()["detail"]
        session = client.get("/api/sessions/nosuch")
        assert session.status_code == 404 and "no session with id" in session.json()["detail"]
        ref = client.post("/api/summarize", json={"paper_id": "zzzz qqqq xxxx"})
        assert ref.status_code == 404 and "no paper matches" in ref.json()["detail"]
        dates = client.get("/api/search", params={"q": "x", "since": "2024", "until": "2023"})
        assert dates.status_code == 422
        assert dates.json()["detail"] == "since 2024 is after until 2023"
