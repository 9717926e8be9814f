"""Ray processes a killed search left behind: recorded in the run directory, ended by the next run.

An embedded Ray instance runs a dozen processes (GCS, raylet, dashboard and runtime-env
agents, workers). When the driver is SIGKILLed, some of them (the agents) live on for a
minute or more, holding memory and ports. So once Ray has started, the driver writes
``RUN_DIR/ray_session.json``: the host, the session's name and the PID, start time and
command of each process of the session. The next run of the same search (under the run
lock, so no live driver uses that session), or ``nas search --cleanup RUN_DIR``, ends the
processes of that record, and only those: a PID counts only while it runs the same
process (same start time), or a process whose command line names the recorded session (Ray
passes the session directory to the processes it starts) or that holds one of the
session's files open (the agents rename themselves ``ray::...`` but keep their logs open). Linux only (``/proc``);
elsewhere nothing is recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.errors import NasError
from nas.runs.atomic import read_json, write_json

#: The record, next to the run's other files.
RECORD_FILE = "ray_session.json"
#: Seconds a process gets to exit after SIGTERM before SIGKILL.
TERM_GRACE_S = 5.0


def _proc(pid: int) -> tuple[str, str, int] | None:
    """``(start time, command line, uid)`` of a live (non-zombie) process, ``None`` when gone or unreadable."""
    base = Path(f"/proc/{pid}")
    try:
        fields = (base / "stat").read_text().rpartition(")")[2].split()
        cmd = (base / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        uid = base.stat().st_uid
    except (OSError, ValueError):
        return None
    if not fields or fields[0] == "Z" or len(fields) < 20:
        return None
    return fields[19], cmd, uid


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").glob("[0-9]*")]


def _opens(pid: int, session: str) -> bool:
    """Whether ``pid`` holds a file of the session open (Ray's agents rename themselves ``ray::...``, but log there)."""
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if session in os.readlink(fd):
                    return True
    return False


def _names(info: tuple[str, str, int], pid: int, session: str) -> bool:
    return session in info[1] or _opens(pid, session)


def session_processes(session: str) -> list[dict[str, Any]]:
    """This user's processes that name ``session`` (a Ray session directory's name) or hold its files open."""
    found = []
    for pid in _all_pids():
        info = _proc(pid)
        if pid != os.getpid() and info is not None and info[2] == os.getuid() and _names(info, pid, session):
            found.append({"pid": pid, "start": info[0], "cmd": info[1][:300]})
    return found


def record(run_dir: Path, tmpdir: str) -> None:
    """Write the record of the Ray session just started with temp dir ``tmpdir`` (best effort)."""
    link = Path(tmpdir) / "session_latest"
    try:
        session = Path(os.readlink(link)).name
    except OSError:
        return  # not an embedded session we started, or not Linux
    doc = {
        "host": socket.gethostname(),
        "driver": os.getpid(),
        "session": session,
        "processes": session_processes(session),
    }
    write_json(run_dir / RECORD_FILE, doc)


def forget(run_dir: Path) -> None:
    """The session ended cleanly: nothing to end next time."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / RECORD_FILE).unlink()


def _still_ours(entry: dict[str, Any], session: str) -> bool:
    info = _proc(int(entry.get("pid", -1)))
    if info is None or info[2] != os.getuid():
        return False
    return info[0] == str(entry.get("start")) or _names(info, int(entry["pid"]), session)


def cleanup(run_dir: str | Path, *, say: Callable[[str], None] = print) -> list[int]:
    """End the processes a killed search's Ray session left; the PIDs ended (none when there was no record)."""
    run_dir = Path(run_dir)
    path = run_dir / RECORD_FILE
    if not path.is_file():
        return []
    doc = read_json(path, "record of the Ray session")
    session = doc.get("session") if isinstance(doc, dict) else None
    if not isinstance(session, str) or not session.startswith("session_"):
        raise NasError(f"{path}: not a record written by this toolkit; delete it")
    if doc.get("host") != socket.gethostname():
        say(f"{path}: the Ray session ran on {doc.get('host')}; end its processes there")
        return []
    victims = {int(e["pid"]) for e in doc.get("processes", []) if isinstance(e, dict) and _still_ours(e, session)}
    victims |= {e["pid"] for e in session_processes(session)}
    victims.discard(os.getpid())
    ended = _end(sorted(victims))
    forget(run_dir)
    if ended:
        say(f"{run_dir}: ended {len(ended)} process(es) left by an interrupted Ray session ({session})")
    return ended


def _end(pids: list[int]) -> list[int]:
    """SIGTERM, then SIGKILL after :data:`TERM_GRACE_S`; the PIDs that were running."""
    ended = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
            ended.append(pid)
    deadline = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < deadline and any(_proc(pid) is not None for pid in ended):
        time.sleep(0.1)
    for pid in ended:
        if _proc(pid) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return ended
