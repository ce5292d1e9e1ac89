"""Local servers the benchmarks start and stop: a real ``chroma run`` and llama-cpp-python's
OpenAI-compatible server, each on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(
    cmd: list[str],
    probe: str,
    log: Path | None,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Iterator[None]:
    """Run ``cmd`` (with ``env``, default ours) until ``probe`` (a URL) answers; stop it when
    the block ends."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(probe, timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{Path(cmd[0]).name} did not start: {cmd}") from None
                time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log:
            out.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[int]:
    """``chroma run`` over ``folder/data``; yields its port."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    cmd = [str(chroma), "run", "--path", str(folder / "data")]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    probe = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    with serving(cmd, probe, folder / "chroma.log", timeout=60):
        yield port


@contextlib.contextmanager
def llama_openai_server(gguf: Path, alias: str = "smollm2-135m") -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with ``gguf``; yields its /v1 URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    cmd += ["--model_alias", alias]
    url = f"http://127.0.0.1:{port}/v1"
    with serving(cmd, f"{url}/models", None, timeout=120):
        yield url
