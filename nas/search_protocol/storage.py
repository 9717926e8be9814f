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

A password is never written to a run directory: configs are saved with
:func:`without_password`, and the storage object (which Ray Tune pickles into the
experiment state) holds the URL without it. The password comes, at run time, from the URL
given (``--storage``), else ``$NAS_STORAGE_URL`` when it names the same database, else
libpq's own ``PGPASSWORD`` or ``~/.pgpass``.
"""

from __future__ import annotations

import os
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


#: Environment variable that may hold the storage URL with its password (never saved).
URL_ENV = "NAS_STORAGE_URL"
_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
#: Passwords this process was given, by the URL without them (for storage objects Ray unpickles).
_PASSWORDS: dict[str, str] = {}


def without_password(url: str) -> str:
    """``url`` without the password of its ``user:password@`` part (what may be written to disk)."""
    return _PASSWORD.sub(r"\1@", url)


def remember_password(url: str) -> str:
    """Keep ``url``'s password in this process (for the storage objects a restore unpickles); the URL without it."""
    bare = without_password(url)
    if bare != url:
        try:
            from sqlalchemy.engine import make_url

            password = make_url(url).password
        except Exception:  # malformed: open_storage says so
            return bare
        if password:
            _PASSWORDS[bare] = str(password)
    return bare


def _password_for(bare: str) -> str | None:
    """The password for a password-free URL: given to this process, else ``$NAS_STORAGE_URL``'s."""
    if bare in _PASSWORDS:
        return _PASSWORDS[bare]
    env = os.environ.get(URL_ENV, "")
    if env and without_password(env).replace("postgres://", "postgresql://", 1) == bare.replace(
        "postgres://", "postgresql://", 1
    ):
        remember_password(env)
        return _PASSWORDS.get(without_password(env))
    return None  # libpq then reads PGPASSWORD or ~/.pgpass


def _storage_class() -> type:
    import optuna

    class PasswordFreeStorage(optuna.storages.RDBStorage):
        """An RDBStorage whose pickled form (in Ray Tune's experiment state) holds no password."""

        def __getstate__(self) -> dict[Any, Any]:
            state = super().__getstate__()
            kwargs = dict(state.get("engine_kwargs") or {})
            kwargs["connect_args"] = {k: v for k, v in kwargs.get("connect_args", {}).items() if k != "password"}
            state["engine_kwargs"] = kwargs
            return state

        def __setstate__(self, state: dict[Any, Any]) -> None:
            password = _password_for(state["url"])
            if password is not None:
                kwargs = dict(state.get("engine_kwargs") or {})
                kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "password": password}
                state["engine_kwargs"] = kwargs
            super().__setstate__(state)

    PasswordFreeStorage.__module__ = __name__
    PasswordFreeStorage.__qualname__ = "PasswordFreeStorage"
    return PasswordFreeStorage


def __getattr__(name: str) -> Any:
    # The class subclasses optuna's (a slow import): made on first use, and found here by unpickling.
    if name == "PasswordFreeStorage":
        cls = _storage_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def open_storage(url: str, field: str) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url``, or a one-line :class:`NasError` naming ``field``."""
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
    if not server and parsed.database in (None, "", ":memory:"):
        raise NasError(
            f"{field}: {_shown(parsed)} is an in-memory SQLite database, lost when the search ends (it cannot be "
            "resumed or shared); give sqlite:///PATH, or no storage for the run directory's optuna.db"
        )
    if server and not parsed.host:
        raise NasError(f"{field}: storage URL {_shown(parsed)} names no host (expected {EXPECTED})")
    if server and not parsed.database:
        raise NasError(f"{field}: storage URL {_shown(parsed)} names no database (expected {EXPECTED})")
    engine_kwargs: dict[str, Any] = {}
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
        engine_kwargs = {"pool_pre_ping": True}
    bare_url = parsed.set(password=None).render_as_string(hide_password=False)
    password = parsed.password if parsed.password is not None else _password_for(bare_url)
    if password is not None:
        _PASSWORDS[bare_url] = str(password)
        connect_args["password"] = str(password)
    if connect_args:
        engine_kwargs["connect_args"] = connect_args
    storage_class = globals().get("PasswordFreeStorage") or __getattr__("PasswordFreeStorage")
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return storage_class(bare_url, engine_kwargs)
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
