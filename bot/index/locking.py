"""One writer at a time on an embedded store: an exclusive lock file with its holder inside.

Embedded Chroma (``PersistentClient``) supports one writing process per directory; a second
writer can block for minutes on SQLite/HNSW locks. Every write to an embedded store therefore
holds ``$PAPERBOT_HOME/chroma/.paperbot.lock``:

- the lock is an ``fcntl.flock`` (exclusive, non-blocking, polled for ``timeout`` seconds), so
  the kernel releases it when the holder dies, even by SIGKILL;
- the file holds the holder's pid, host, start time and command line (JSON), so a second
  writer fails at once with :class:`~bot.errors.StoreError` naming the holder;
- a lock file left by a dead process (or on a file system without ``flock``, a file naming a
  pid that no longer runs on this host) is stale: it is taken over, and ``stale_from`` says
  whose it was.

Readers never take the lock. The lock is re-entrant within a process (a count), so an ingest
can hold it around many writes. A Chroma server (``CHROMA_HOST``) serialises writers itself
and needs no lock.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from bot.errors import StoreError

__all__ = ["LOCK_NAME", "WriterLock", "pid_alive", "read_holder", "writer_lock"]

LOCK_NAME = ".paperbot.lock"

_LOCKS: dict[Path, WriterLock] = {}
_LOCKS_MUTEX = threading.Lock()


def writer_lock(directory: Path, timeout: float = 1.0) -> WriterLock:
    """The process-wide :class:`WriterLock` of ``directory`` (one per directory, so two
    stores over the same directory in one process share it instead of locking each other out;
    ``flock`` locks belong to open files, not processes)."""
    key = Path(directory).resolve()
    with _LOCKS_MUTEX:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = WriterLock(key, timeout)
        lock.timeout = timeout
        return lock


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:  # a zombie (exited, not yet reaped) holds no locks
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def read_holder(path: Path) -> dict[str, Any]:
    """The holder recorded in a lock file ({} when absent or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (holder unknown)"
    cmd = str(holder.get("command") or "?")
    if len(cmd) > 80:
        cmd = cmd[:77] + "..."
    since = holder.get("since")
    when = ""
    if isinstance(since, int | float):
        when = f", since {time.strftime('%H:%M:%S', time.localtime(since))}"
    return f"pid {holder.get('pid')} on {holder.get('host')} ({cmd}{when})"


class WriterLock:
    """The exclusive writer lock of one store directory (re-entrant within a process)."""

    def __init__(self, directory: Path, timeout: float = 1.0) -> None:
        self.path = Path(directory) / LOCK_NAME
        self.timeout = timeout
        self.stale_from: dict[str, Any] | None = None  # holder of a stale lock taken over
        self._fh: IO[str] | None = None
        self._depth = 0
        self._mutex = threading.RLock()

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> None:
        with self._mutex:
            if self._fh is not None:
                self._depth += 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+", encoding="utf-8")  # held until release
            try:
                self._lock(fh)
            except BaseException:
                fh.close()
                raise
            self._fh = fh
            self._depth = 1
            self._write_holder(fh)

    def release(self) -> None:
        with self._mutex:
            if self._fh is None:
                return
            self._depth -= 1
            if self._depth > 0:
                return
            fh, self._fh = self._fh, None
            try:
                fh.seek(0)
                fh.truncate()  # an empty file is "free"; the file itself stays (no unlink race)
                fh.flush()
            except OSError:
                pass
            finally:
                self._unlock(fh)
                fh.close()

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- internals ------------------------------------------------------------------------
    def _lock(self, fh: IO[str]) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: pid file only
            self._pid_file_check()
            return
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    self._pid_file_check()  # no flock here (some network file systems)
                    return
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise StoreError(f"cannot lock {self.path}: {exc}") from exc
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"the store at {self.path.parent} is being written by "
                    f"{_describe(read_holder(self.path))}; one writer at a time on an "
                    "embedded store: wait for it to finish, or use a Chroma server "
                    f"(CHROMA_HOST) for concurrent writers (lock file {self.path.name})"
                )
            time.sleep(0.05)
        # We hold the flock: whatever the file still names is a holder that died (the kernel
        # dropped its lock) - stale, taken over.
        holder = read_holder(self.path)
        if holder and not self._is_me(holder):
            self.stale_from = holder

    def _pid_file_check(self) -> None:
        holder = read_holder(self.path)
        if not holder or self._is_me(holder):
            return
        same_host = holder.get("host") == socket.gethostname()
        pid = int(holder.get("pid") or 0)
        if same_host and not pid_alive(pid):
            self.stale_from = holder
            return
        raise StoreError(
            f"the store at {self.path.parent} is being written by {_describe(holder)}; "
            f"if that process is gone, delete {self.path}"
        )

    @staticmethod
    def _is_me(holder: dict[str, Any]) -> bool:
        return holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname()

    @staticmethod
    def _unlock(fh: IO[str]) -> None:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except (ImportError, OSError):
            pass

    @staticmethod
    def _write_holder(fh: IO[str]) -> None:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": round(time.time(), 3),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        }
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(holder))
        fh.flush()
        os.fsync(fh.fileno())
