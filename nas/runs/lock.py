"""One run per directory: a lock file that says which process owns a run directory.

Two processes writing one run directory interleave their histories and checkpoints
without an error, so every job holds ``RUN_DIR/.nas.lock`` for its whole run. The file
is JSON (``pid``, ``host``, ``started``, ``proc_start``, ``command``) and is created
whole or not at all: it is written to a temporary file and hard-linked to its name,
which fails when the name exists, on local disks and on NFS alike (``fcntl`` locks are
not used: they are advisory per host and unreliable on shared storage). Where hard links
are not supported the file is created with ``O_CREAT | O_EXCL`` instead.

A lock is *stale* when its process is gone: on this host that is checked (the PID is not
running, or it runs a different process, told by its start time), and the lock is taken
over with a one-line warning. A lock written on another host cannot be checked from here
and is respected; after making sure that process is gone, delete the file.

Under ``torchrun`` only rank 0 takes the lock (the other ranks are the same run).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nas.errors import NasError

#: The lock's name inside a run directory (a fresh directory may hold it: :func:`nas.runs.rundir.check_run_dir`).
LOCK_NAME = ".nas.lock"
#: Seconds an unreadable (half-created, ``O_EXCL`` fallback only) lock is respected before it counts as stale.
UNREADABLE_GRACE_S = 60.0


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux ``/proc``), ``None`` where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def is_running(pid: int, proc_start: str | None = None) -> bool:
    """Whether ``pid`` runs on this host (and, when ``proc_start`` is known, is the same process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if proc_start is not None:
        now = _process_start(pid)
        if now is not None and now != proc_start:
            return False  # the PID was reused by another process
    return True


def is_main_rank() -> bool:
    """False on the non-zero ranks of a ``torchrun`` job (``RANK``, else ``LOCAL_RANK``)."""
    for name in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value is not None and value.strip().lstrip("-").isdigit():
            return int(value) == 0
    return True


def _owner_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "proc_start": _process_start(os.getpid()),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:300] if sys.argv else "",
    }


def describe(owner: dict[str, Any]) -> str:
    """``pid@host`` (started ...): how an owner is named in messages."""
    started = f", started {owner['started']}" if owner.get("started") else ""
    return f"{owner.get('pid', '?')}@{owner.get('host', '?')}{started}"


def _read(path: Path) -> tuple[dict[str, Any] | None, bytes]:
    """The lock's owner (``None`` when unreadable) and its raw bytes (``b''`` when gone)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, b""
    try:
        owner = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, data
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        return None, data
    return owner, data


def _create(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; the file appears whole (hard link) where possible."""
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".new", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:
            pass  # no hard links on this file system: exclusive create below
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return True


class RunLock:
    """The lock of one run directory; :func:`hold` is the usual way to take it."""

    def __init__(self, run_dir: str | os.PathLike[str], *, warn: Callable[[str], None] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.warn = warn or (lambda message: print(message, file=sys.stderr))
        self._data: bytes | None = None

    def acquire(self) -> None:
        """Take the lock, take over a stale one, or raise a one-line :class:`NasError` naming the owner."""
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise NasError(f"{self.run_dir}: is a file, expected a run directory")
        self._made_dir = not self.run_dir.exists()  # a run refused before writing anything leaves no directory
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasError(f"{self.run_dir}: cannot create the run directory ({exc.strerror or exc})") from None
        data = (json.dumps(_owner_record(), indent=2) + "\n").encode("utf-8")
        for _attempt in range(5):
            try:
                created = _create(self.path, data)
            except OSError as exc:
                raise NasError(f"{self.run_dir}: cannot write the run lock ({exc.strerror or exc})") from None
            if created:
                self._data = data
                return
            owner, seen = _read(self.path)
            if not seen:
                continue  # released meanwhile: try again
            if not self._stale(owner, seen):
                raise NasError(self._refusal(owner))
            if self._take_over(seen):
                self.warn(
                    f"{self.run_dir}: taking over the lock of a process that is gone "
                    f"({describe(owner) if owner else 'unreadable lock file'})"
                )
        raise NasError(f"{self.run_dir}: could not take the run lock {self.path.name} (other processes keep taking it)")

    def _stale(self, owner: dict[str, Any] | None, seen: bytes) -> bool:
        if owner is None:  # half-written (O_EXCL fallback) or damaged
            with contextlib.suppress(FileNotFoundError):
                return time.time() - self.path.stat().st_mtime > UNREADABLE_GRACE_S
            return True
        if owner.get("host") != socket.gethostname():
            return False  # cannot be checked from here: respected
        return not is_running(int(owner["pid"]), owner.get("proc_start"))

    def _refusal(self, owner: dict[str, Any] | None) -> str:
        if owner is None:
            return f"{self.run_dir}: another process is creating the run lock {self.path.name}; try again shortly"
        here = owner.get("host") == socket.gethostname()
        hint = (
            "wait for it to finish, or stop it"
            if here
            else f"if that process is gone, delete {self.path} and run again"
        )
        return f"{self.run_dir}: in use by another process ({describe(owner)}); {hint}"

    def _take_over(self, seen: bytes) -> bool:
        """Move the stale lock aside; ``False`` when another process replaced it meanwhile (it is put back)."""
        aside = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return False
        try:
            if aside.read_bytes() != seen:  # a live lock taken meanwhile: give it back
                with contextlib.suppress(OSError):
                    os.link(aside, self.path)
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                aside.unlink()

    def release(self) -> None:
        """Remove the lock if it is still this process's."""
        if self._data is None:
            return
        _owner, seen = _read(self.path)
        if seen == self._data:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            if getattr(self, "_made_dir", False):
                with contextlib.suppress(OSError):  # only an empty directory goes: nothing is lost
                    self.run_dir.rmdir()
        self._data = None


@contextlib.contextmanager
def hold(run_dir: str | os.PathLike[str], *, warn: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the block (only on the main rank of a ``torchrun`` job)."""
    if not is_main_rank():
        yield
        return
    lock = RunLock(run_dir, warn=warn)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
