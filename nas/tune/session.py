"""The Ray session of one search: an embedded instance with its files in the run directory, or a cluster.

Locally an embedded Ray instance is started with quiet, self-contained settings (no
usage stats, no dashboard, no ``~/ray_results``), its session files under
``RUN_DIR/ray`` (mode 0o700; through a short ``/tmp`` symlink when the run directory's path is too
long for Ray's socket names), and shut down at the end. With ``address`` the driver
joins a cluster started with ``ray start`` instead, after checking that something
answers there, so a typo fails in seconds rather than after Ray's own timeout.

A caller that already started Ray (a notebook, a test session) keeps its instance.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import NasError
from nas.runs.atomic import one_line
from nas.tune import orphans
from nas.tune.config import SearchConfig

#: Ray's socket paths (``TMP/session_<date>_<pid>/sockets/plasma_store``) must fit in 107 bytes.
MAX_RAY_TMPDIR = 40
#: Seconds to wait for a cluster given with ``address``.
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RaySession:
    """Where the search runs: ``embedded`` or the cluster's address, and the CPUs/GPUs Ray offers."""

    address: str
    resources: dict[str, float] = field(default_factory=dict)


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line error unless a Ray cluster answers at ``host:port`` (``auto`` is checked by Ray)."""
    if address in ("auto", "local"):
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise NasError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.1:6379) or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise NasError(
            f"--address {address}: no Ray cluster answers there ({reason}); start one with `ray start --head` "
            "or drop --address to use a local instance"
        ) from None


def ray_tmpdir(config: SearchConfig, run_dir: Path) -> tuple[str, Path | None]:
    """Ray's temp dir: ``RUN_DIR/ray/t``, reached through a short ``/tmp`` symlink when needed (returned too).

    Ray makes its temp dir (and the session's socket directory) mode 0o777; ``RUN_DIR/ray``
    around it is created 0o700, so no other user reaches the sockets or the logs.
    """
    if config.ray_tmpdir:
        return str(Path(config.ray_tmpdir).absolute()), None
    target = run_dir / "ray"
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    private(target)
    if len(str(target / "t")) <= MAX_RAY_TMPDIR:
        return str(target / "t"), None
    # One link name per run directory, so a run killed before it could remove its link
    # leaves a single stale link that the rerun takes over.
    digest = hashlib.sha1(str(target).encode("utf-8")).hexdigest()[:12]
    link = Path(tempfile.gettempdir()) / f"nas-ray-{digest}"
    if link.is_symlink():
        link.unlink()
    elif link.exists():  # not ours: fall back to a fresh name
        link = Path(tempfile.mkdtemp(prefix="nas-ray-"))
        link.rmdir()
    link.symlink_to(target, target_is_directory=True)
    return str(link / "t"), link


def private(directory: str | Path) -> None:
    """Make ``directory`` its owner's alone (mode 0o700)."""
    with contextlib.suppress(OSError):
        os.chmod(Path(directory).resolve(), 0o700)


def _environment(config: SearchConfig) -> dict[str, str]:
    """Quiet, self-contained Ray and Tune settings for this search."""
    return {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
        "TUNE_GLOBAL_CHECKPOINT_S": str(config.experiment_checkpoint_s),
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000000",
    }


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def ray_session(config: SearchConfig, run_dir: Path) -> Iterator[RaySession]:
    """Start an embedded Ray instance (or join ``config.address``) for the duration of the block."""
    import ray  # ~1 s to import: only when a search starts

    env = _environment(config)
    link = None
    if ray.is_initialized():  # a caller's Ray (e.g. a test session): use it as it is
        pass
    elif config.address is None:
        env["RAY_AUTH_MODE"] = os.environ.get("RAY_AUTH_MODE", "disabled")
        env["RAY_TMPDIR"], link = ray_tmpdir(config, run_dir)
    else:
        check_address(config.address)
        name = "RAY_gcs_rpc_server_reconnect_timeout_s"  # Ray's own (lower-case) spelling
        env[name] = os.environ.get(name, "10")
    started = False
    try:
        with _environ(env):
            if not ray.is_initialized():
                _init(config, env.get("RAY_TMPDIR"))
                started = True
                if config.address is None and env.get("RAY_TMPDIR"):
                    orphans.record(run_dir, env["RAY_TMPDIR"])  # what to end if this driver is killed
            try:
                resources = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
                _check_resources(config, resources)
                yield RaySession(config.address or "embedded", resources)
            finally:
                if started:
                    ray.shutdown()
                    orphans.forget(run_dir)
    finally:
        if link is not None:
            with contextlib.suppress(OSError):
                link.unlink()


def _init(config: SearchConfig, tmpdir: str | None) -> None:
    import ray  # see ray_session

    try:
        if config.address is None:
            ray.init(
                num_cpus=config.num_cpus,
                num_gpus=config.num_gpus,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=config.object_store_mb * 2**20,
                _temp_dir=tmpdir,
                logging_level=logging.WARNING,
            )
        else:
            ray.init(address=config.address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"--address {config.address}" if config.address else "ray"
        raise NasError(f"{where}: cannot start or join Ray ({one_line(exc, 160)})") from None


def _check_resources(config: SearchConfig, resources: dict[str, float]) -> None:
    for key, name, need in (
        ("CPU", "cpus_per_trial", config.cpus_per_trial),
        ("GPU", "gpus_per_trial", config.gpus_per_trial),
    ):
        have = resources.get(key, 0.0)
        if need > have:
            raise NasError(f"{name}: a trial needs {need:g} {key}s but the Ray cluster has {have:g}")
