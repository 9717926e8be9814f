"""A throw-away PostgreSQL server for tests (and ``.ci/run``): temp data directory, loopback port.

``python tests/pg_server.py start DIR`` prints the URL and leaves the server running;
``python tests/pg_server.py stop DIR`` stops it. As root (CI, this machine) the server
programs run as the ``postgres`` user, which ``initdb`` requires.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER, PASSWORD = "nas", "nas-test-secret"


def programs() -> dict[str, str] | None:
    """Paths of initdb and pg_ctl (PATH, then Debian's /usr/lib/postgresql/*/bin), or None."""
    found = {name: shutil.which(name) for name in ("initdb", "pg_ctl")}
    if not all(found.values()):
        for bin_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
                found = {name: str(bin_dir / name) for name in found}
                break
    return found if all(found.values()) else None  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in args)]


def start(root: Path) -> str:
    """Initialise and start a server in ``root`` (created, owned by the server user); returns its URL."""
    progs = programs()
    if progs is None:
        raise RuntimeError("PostgreSQL server programs (initdb, pg_ctl) not found")
    root.mkdir(parents=True, exist_ok=True)
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    db, log = root / "db", root / "pg.log"
    run = dict(check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(_as_server_user([progs["initdb"], "-D", str(db), "-U", USER, f"--pwfile={pwfile}",
                                    "--auth-local=trust", "--auth-host=scram-sha-256"]), **run)  # fmt: skip
    opts = f"-p {port} -k {root} -h 127.0.0.1"
    subprocess.run(_as_server_user([progs["pg_ctl"], "-D", str(db), "-o", opts, "-l", str(log), "-w", "start"]), **run)
    (root / "url").write_text(url(port))
    return url(port)


def url(port: int, password: str = PASSWORD) -> str:
    return f"postgresql://{USER}:{password}@127.0.0.1:{port}/postgres"


def stop(root: Path) -> None:
    """Stop the server of ``root`` (immediately: tests need no clean shutdown) and remove ``root``."""
    progs = programs()
    try:
        if progs is not None and (root / "db" / "postmaster.pid").exists():
            subprocess.run(_as_server_user([progs["pg_ctl"], "-D", str(root / "db"), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    command, where = sys.argv[1], Path(sys.argv[2])
    if command == "start":
        print(start(where))
    else:
        stop(where)
