"""Where an Optuna study lives: SQLite in the run directory by default, or a database server by URL.

One function opens every study storage the toolkit uses (the Optuna controller and Tune's
Optuna searcher), so a bad URL, a missing driver, a wrong password or a server that is
down is always the same one line naming the field, the storage (password hidden) and
what was expected, before any trial runs.

Several ``nas search`` processes (or Ray workers on several nodes) may share one study on
PostgreSQL: Optuna numbers trials in the database, so their numbers never collide, and
each process sees the others' finished trials. Processes that start together on a fresh
database race to create Optuna's tables; the loser retries (the tables then exist). The
trial a killed process was running stays RUNNING in the study (Optuna's heartbeats only
work with ``Study.optimize``, and the toolkit asks and tells); it is never counted as
finished, and a rerun asks for a new trial in its place.
"""

from __future__ import annotations

import re
import time
from typing import Any

from nas.errors import NasError

#: What a storage URL looks like (the message of a malformed one).
EXPECTED = "sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
#: Seconds a server may take to answer before it counts as down.
CONNECT_TIMEOUT_S = 10
#: Attempts at opening a fresh database that another process is initialising at the same time.
CREATE_ATTEMPTS = 5


def _shown(url: Any) -> str:
    return url.render_as_string(hide_password=True)


def mask_password(text: str) -> str:
    """``text`` with the password of a ``scheme://user:password@`` URL replaced by ``***``."""
    return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)


def open_storage(url: str, field: str) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url``, or a one-line :class:`NasError` naming ``field``."""
    import optuna
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    if not isinstance(url, str) or not url.strip():
        raise NasError(f"{field}: expected a storage URL ({EXPECTED}), got {mask_password(repr(url))}")
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise NasError(f"{field}: malformed storage URL {mask_password(repr(url))} (expected {EXPECTED})") from None
    if parsed.drivername == "postgres":  # the spelling of Heroku and libpq; SQLAlchemy wants postgresql
        parsed = parsed.set(drivername="postgresql")
    backend = parsed.get_backend_name()
    server = backend != "sqlite"
    if server and not parsed.host:
        raise NasError(f"{field}: storage URL {_shown(parsed)} names no host (expected {EXPECTED})")
    if server and not parsed.database:
        raise NasError(f"{field}: storage URL {_shown(parsed)} names no database (expected {EXPECTED})")
    engine_kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, "pool_pre_ping": True}
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(parsed.render_as_string(hide_password=False), engine_kwargs)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
                racing = any(s in str(exc).lower() for s in ("duplicate key", "already exists"))
                if not racing or attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))  # another process is creating the tables
        raise AssertionError("unreachable")  # pragma: no cover
    except ImportError:
        raise NasError(f"{field}: {backend} storage needs its database driver ({_driver_hint(parsed)})") from None
    except sqlalchemy.exc.NoSuchModuleError:
        raise NasError(f"{field}: unknown database kind {parsed.drivername!r} in {_shown(parsed)}") from None
    except sqlalchemy.exc.OperationalError as exc:
        raise NasError(f"{field}: {_server_problem(parsed, exc)}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise NasError(f"{field}: cannot open the study storage {_shown(parsed)} ({reason})") from None


def _driver_hint(url: Any) -> str:
    if url.get_backend_name() == "postgresql":
        return "pip install 'psycopg[binary]>=3.1', or the toolkit's postgres extra: pip install -e '.[postgres]'"
    return f"install the Python driver SQLAlchemy uses for {url.drivername}://"


def _server_problem(url: Any, exc: Exception) -> str:
    """What went wrong reaching a database server, in words (from the driver's message)."""
    text = str(getattr(exc, "orig", None) or exc)
    lower = text.lower()
    where = f"{url.host}:{url.port or 5432}"
    if "password authentication failed" in lower or "no password supplied" in lower:
        return f"the server at {where} refused user {url.username!r} (wrong password?) for {_shown(url)}"
    if "does not exist" in lower and "database" in lower:
        return f"database {url.database!r} does not exist on {where} (create it, e.g. createdb); storage {_shown(url)}"
    if "does not exist" in lower and "role" in lower:
        return f"user {url.username!r} does not exist on the server at {where}; storage {_shown(url)}"
    if any(s in lower for s in ("connection refused", "could not connect", "timeout", "timed out", "no route")):
        return f"no database server answers at {where} (is it running?); storage {_shown(url)}"
    if "could not translate host name" in lower or "name or service not known" in lower:
        return f"unknown host {url.host!r}; storage {_shown(url)}"
    return f"cannot open the study storage {_shown(url)} ({text.strip().splitlines()[0][:200] if text else exc})"
