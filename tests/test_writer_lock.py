"""One writer at a time on an embedded store (bot/index/locking.py), with real processes.

A running ``paperbot ingest`` holds ``$PAPERBOT_HOME/chroma/.paperbot.lock``; a second writer
fails fast with one line naming the holder's pid (never a hang, never a traceback); a reader
(``paperbot search``) keeps working meanwhile; a lock left by a SIGKILLed process is stale and
taken over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.api import PaperBot
from bot.errors import StoreError
from bot.index.locking import LOCK_NAME, WriterLock, pid_alive, read_holder, writer_lock
from tests.conftest import abstracts, make_settings

PAPERBOT = [sys.executable, "-m", "bot.cli.main"]
# No model-loading progress bars, and no wrapping of the one error line by rich.
QUIET = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "COLUMNS": "1000"}


def _write_jsonl(path: Path, start: int, n: int) -> Path:
    """``n`` real abstracts (tests/fixtures/abstracts) as paperbot JSONL records."""
    rows = abstracts(start, n)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _wait_for_holder(
    lock_file: Path, pid: int, proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_holder(lock_file).get("pid") == pid:
            return
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"writer exited early ({proc.returncode}): {err[-2000:]}")
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never took the writer lock {lock_file}")


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from bot.index.locking import WriterLock
lock = WriterLock(Path(sys.argv[1]), timeout=0)
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(directory: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(directory), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_fast_and_readers_keep_working(
    isolated_env: Path, embedder: object
) -> None:
    home = isolated_env / "home"
    env = {**os.environ, **QUIET, "PAPERBOT_LLM_MODE": "extractive"}
    small = _write_jsonl(isolated_env / "small.jsonl", 0, 20)
    big = _write_jsonl(isolated_env / "big.jsonl", 20, 300)
    other = _write_jsonl(isolated_env / "other.jsonl", 320, 5)
    # Some papers to read while the big ingest runs.
    seeded = PaperBot(make_settings(home), embedder=embedder, llm=None).ingest([small])  # type: ignore[arg-type]
    assert seeded.added == 20
    lock_file = home / "chroma" / LOCK_NAME

    writer = subprocess.Popen(
        [*PAPERBOT, "ingest", str(big), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_holder(lock_file, writer.pid, writer, timeout=120)
        t0 = time.monotonic()
        reader = subprocess.Popen(
            [*PAPERBOT, "search", "diffusion tensor imaging of white matter", "-k", "3", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        second = subprocess.run(
            [*PAPERBOT, "ingest", str(other)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        second_seconds = time.monotonic() - t0
        r_out, r_err = reader.communicate(timeout=120)
        writer_still_running = writer.poll() is None

        # The second writer: exit 1, one line naming the holder, no traceback, no hang.
        assert second.returncode == 1, second.stderr
        assert "Traceback" not in second.stderr + second.stdout
        lines = [
            ln
            for ln in second.stderr.strip().splitlines()
            if ln.strip() and not ln.startswith("Loading weights")
        ]
        assert len(lines) == 1, second.stderr
        assert f"pid {writer.pid}" in lines[0] and "being written" in lines[0]
        # The reader worked while the writer held the lock.
        assert reader.returncode == 0, r_err
        assert json.loads(r_out)["results"], r_out
        assert "Traceback" not in r_err
        print(
            f"second writer failed after {second_seconds:.1f}s (incl. process start); "
            f"writer still running at the end: {writer_still_running}"
        )
        assert writer_still_running, "the big ingest finished too soon to prove anything"

        # Killed mid-ingest (SIGKILL): the kernel drops its flock; the file still names it,
        # so the next writer detects the stale lock and takes it over.
        writer.kill()
        writer.wait()
        lock = writer_lock(home / "chroma", timeout=0)
        with lock:
            assert lock.stale_from is not None and lock.stale_from["pid"] == writer.pid
            assert read_holder(lock_file)["pid"] == os.getpid()
        assert read_holder(lock_file) == {}
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_lock_names_holder_and_times_out(tmp_path: Path) -> None:
    holder = _hold_lock(tmp_path, 60)
    try:
        lock = WriterLock(tmp_path, timeout=0.5)
        t0 = time.monotonic()
        with pytest.raises(StoreError) as info:
            lock.acquire()
        waited = time.monotonic() - t0
        message = str(info.value)
        assert f"pid {holder.pid}" in message and LOCK_NAME in message
        assert "\n" not in message
        assert 0.4 <= waited < 10, waited  # waited its timeout, then failed (no hang)
        assert not lock.held
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_killed_process_is_taken_over(tmp_path: Path, embedder: object) -> None:
    home = tmp_path / "home"
    store_dir = home / "chroma"
    holder = _hold_lock(store_dir, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert not pid_alive(holder.pid)
    assert read_holder(store_dir / LOCK_NAME)["pid"] == holder.pid  # left behind

    bot = PaperBot(make_settings(home), embedder=embedder, llm=None)  # type: ignore[arg-type]
    papers = _write_jsonl(tmp_path / "few.jsonl", 0, 3)
    report = bot.ingest([papers])
    assert report.added == 3 and not report.failed
    lock = writer_lock(store_dir)
    assert lock.stale_from is not None and lock.stale_from["pid"] == holder.pid
    assert not lock.held and read_holder(store_dir / LOCK_NAME) == {}


def test_lock_is_reentrant_and_shared_in_process(tmp_path: Path) -> None:
    a = writer_lock(tmp_path, timeout=0)
    b = writer_lock(tmp_path, timeout=0)
    assert a is b
    with a, b:
        assert read_holder(tmp_path / LOCK_NAME)["pid"] == os.getpid()
    assert not a.held and read_holder(tmp_path / LOCK_NAME) == {}


def test_server_mode_needs_no_lock(tmp_path: Path) -> None:
    from bot.index.store import store_writing

    settings = make_settings(tmp_path, chroma_host="127.0.0.1")
    # No connection is made: writing() is decided from the settings alone.
    with store_writing(settings):
        assert not (tmp_path / "chroma" / LOCK_NAME).exists()
