"""Hostile files, bounded: parse a file in a worker process with a time and memory budget.

A 5 KB PDF can hold a content stream that takes minutes to interpret, or a compressed object
that expands to gigabytes. Readers registered with ``isolated=True`` (PDF) therefore run in a
separate process (:class:`ParseWorker`):

- its address space is capped (``RLIMIT_AS``) at what it uses once loaded plus
  ``PAPERBOT_PARSE_MEMORY_MB``: an allocation over the budget fails inside the worker
  (MemoryError), never in paperbot's process;
- the parent waits at most ``PAPERBOT_PARSE_TIMEOUT`` seconds for the result (counted from
  when the worker is ready), then kills the worker (SIGKILL) and starts a new one for the
  next file;

and either way the file is reported by name as a failure and skipped; the rest of the batch
goes on. The worker (a ``python`` running :func:`main`, pickled messages over its stdin and
stdout) is started once and reused for the files of one ingest; as a fresh interpreter it
carries none of the parent's threads, models or locks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.errors import ReaderError
from bot.types import IngestFailure, ReadResult

__all__ = ["ParseWorker", "parse_worker"]

STARTUP_TIMEOUT = 120.0  # seconds for a worker to import the readers (a loaded machine)


def _address_space() -> int:
    """This process's current virtual memory size in bytes (0 when unknown)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _limit_memory(megabytes: int) -> None:
    """Cap the address space at what the worker uses now plus ``megabytes``: the budget is
    for parsing one file, whatever the interpreter and the readers took to load."""
    if megabytes <= 0:
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    limit = _address_space() + megabytes * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn_in: Connection, conn_out: Connection, memory_mb: int = 0) -> None:
    """The worker's loop: (path, format) in, a ReadResult (or an error line) out."""
    import pypdf  # noqa: F401 - loaded before the memory budget applies

    from bot.ingest.readers.registry import read_file_here

    _limit_memory(memory_mb)
    conn_out.send("ready")  # imports done: the parent's clock for a file starts after this
    while True:
        try:
            job = conn_in.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        path, fmt = job
        try:
            result: Any = read_file_here(Path(path), fmt)
        except MemoryError:
            result = ("memory", "")
        except BaseException as exc:  # reported, never raised in the parent
            result = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn_out.send(result)
        except MemoryError:
            conn_out.send(("memory", ""))


_WORKER = "import sys; from bot.ingest.readers.isolated import main; main(sys.argv[1:])"


def main(argv: list[str] | None = None) -> None:
    """The worker process (``MEMORY_MB`` as its argument), talking over stdin/stdout
    (pickled messages); anything a library prints goes to stderr."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    channel = os.dup(1)
    os.dup2(2, 1)  # stray prints cannot corrupt the channel
    memory_mb = int(args[0]) if args else 0
    _serve(Connection(0, writable=False), Connection(channel, readable=False), memory_mb)


class ParseWorker:
    """One worker process reading files within a time and memory budget (reused)."""

    def __init__(self, timeout: float, memory_mb: int) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None  # results from the worker
        self._send: Connection | None = None  # jobs to the worker

    def _start(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.poll() is None:
            return self._conn
        self.close()
        proc = subprocess.Popen(  # a fresh interpreter: none of our threads, models or locks
            [sys.executable, "-c", _WORKER, str(self.memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        self._send = Connection(os.dup(proc.stdin.fileno()), readable=False)
        self._conn = Connection(os.dup(proc.stdout.fileno()), writable=False)
        proc.stdin.close()
        proc.stdout.close()
        ready = self._conn.poll(STARTUP_TIMEOUT)
        try:
            ok = ready and self._conn.recv() == "ready"
        except (EOFError, OSError):
            ok = False
        if not ok:
            self._kill()
            raise ReaderError(
                f"the parse worker did not start within {STARTUP_TIMEOUT:g}s "
                f"(memory budget {self.memory_mb} MB, PAPERBOT_PARSE_MEMORY_MB)"
            )
        return self._conn

    def read(self, path: Path, fmt: str | None = None) -> ReadResult:
        """Read ``path`` in the worker; over budget or crashed: one failure naming the file."""
        try:
            conn = self._start()
        except ReaderError as exc:
            return _failed(path, exc.message)
        started = time.monotonic()
        try:
            self._send.send((str(path), fmt))
        except OSError:
            self._kill()
            return _failed(path, "the parse worker stopped; skipped")
        if not conn.poll(self.timeout):
            self._kill()
            return _failed(
                path,
                f"parsing took longer than {self.timeout:g}s (PAPERBOT_PARSE_TIMEOUT); the "
                "file was skipped (a hostile or pathological file?)",
            )
        try:
            result = conn.recv()
        except (EOFError, OSError):
            code = self._proc.poll() if self._proc is not None else None
            self._kill()
            if code is not None and code < 0:
                why = f"the parser was killed by signal {-code}"
            else:
                why = f"the parser exited (code {code})"
            return _failed(path, f"{why} after {time.monotonic() - started:.1f}s; skipped")
        if isinstance(result, tuple):
            kind, detail = result
            if kind == "memory":
                self._kill()  # a worker that ran out of memory is not reused
                return _failed(
                    path,
                    f"parsing needed more than {self.memory_mb} MB (PAPERBOT_PARSE_MEMORY_MB); "
                    "the file was skipped (a decompression bomb?)",
                )
            return _failed(path, f"cannot be read: {detail[:300]}")
        return result  # type: ignore[no-any-return]

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        for name in ("_conn", "_send"):
            conn = getattr(self, name, None)
            setattr(self, name, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def close(self) -> None:
        if self._send is not None and self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._send.send(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=2)
        self._kill()

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failed(path: Path, error: str) -> ReadResult:
    return ReadResult(failures=[IngestFailure(str(path), None, error)])


@contextlib.contextmanager
def parse_worker(timeout: float, memory_mb: int) -> Iterator[ParseWorker]:
    """A :class:`ParseWorker` for the duration of a block (closed after it)."""
    worker = ParseWorker(timeout, memory_mb)
    try:
        yield worker
    finally:
        worker.close()
