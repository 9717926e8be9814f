"""Moved to :mod:`nas.search_protocol.storage` (the Optuna controller and Tune import it); re-exported here."""

from typing import Any

from nas.search_protocol import storage as _storage
from nas.search_protocol.storage import (
    CONNECT_TIMEOUT_S,
    CREATE_ATTEMPTS,
    EXPECTED,
    URL_ENV,
    mask_password,
    open_storage,
    remember_password,
    without_password,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "CREATE_ATTEMPTS",
    "EXPECTED",
    "URL_ENV",
    "mask_password",
    "open_storage",
    "remember_password",
    "without_password",
]


def __getattr__(name: str) -> Any:
    # `PasswordFreeStorage` is made on first use (it subclasses optuna's): forwarded, so a Ray
    # experiment state pickled before the move still finds the class here.
    if name == "PasswordFreeStorage":
        return getattr(_storage, name)
    raise AttributeError(name)
