"""Only unpickle what this toolkit wrote: SHA-256 digests of Ray Tune's experiment state.

Resuming a trial-based search hands ``RUN_DIR/tune`` to ``Tuner.restore``, which unpickles
``tuner.pkl``, the experiment state (pickles inside JSON), the searcher's state and any
``*.pkl`` below (a failed trial's ``error.pkl``). A run directory on shared storage can be
written by others, and a planted pickle runs code as whoever resumes. So every time Tune
saves its state, the digests of the files it just staged are recorded in
``RUN_DIR/tune_digests.json`` (the toolkit's own JSON), and before a restore every such
file must match a recorded digest; otherwise the restore is refused in one line.

Tune stages its state in the driver's session directory and copies it into
``RUN_DIR/tune`` afterwards, so the copy may lag a save or two behind: the last
:data:`KEEP` digests of each file are accepted. The staging directory is learnt from the
searcher (:func:`note_staging_dir`, called by its ``save_to_dir``); a callback, which
Tune asks for its state after the searcher saved, hashes the staged files then
(:func:`record_staged`). This module does not import Ray: the check runs before Ray starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from nas.errors import NasError
from nas.runs.atomic import read_json, write_json

#: The toolkit's record of the digests, next to (not inside) the directory Tune manages.
DIGEST_FILE = "tune_digests.json"
#: Digests kept per file: the copy in RUN_DIR/tune may be a few saves behind the newest.
KEEP = 16
#: Top-level files of the experiment that Tune unpickles (besides every ``*.pkl``).
_STATE_PREFIXES = ("experiment_state-", "search_gen_state-")

_active: dict[str, Path | None] = {"run_dir": None, "staging": None}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpickled_files(experiment: Path) -> list[Path]:
    """The files below ``experiment`` that a restore unpickles (relative paths)."""
    found = []
    for path in sorted(experiment.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        top_state = path.parent == experiment and path.name.startswith(_STATE_PREFIXES)
        if path.suffix == ".pkl" or top_state:
            found.append(path.relative_to(experiment))
    return found


def _load(run_dir: Path) -> dict[str, list[str]]:
    path = run_dir / DIGEST_FILE
    if not path.is_file():
        return {}
    doc = read_json(path, "digests of the search state")
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        raise NasError(f"{path}: not a digest file written by this toolkit; use another --out")
    return {str(k): [str(d) for d in v] for k, v in files.items() if isinstance(v, list)}


def record(run_dir: Path, root: Path, names: Iterable[Path]) -> None:
    """Add the digests of ``root/name`` (for each relative ``name``) to ``run_dir``'s record."""
    files = _load(run_dir)
    changed = False
    for name in names:
        path = root / name
        if not path.is_file():
            continue
        digest = sha256(path)
        kept = files.setdefault(name.as_posix(), [])
        if digest not in kept:
            kept.append(digest)
            del kept[:-KEEP]
            changed = True
    if changed:
        write_json(run_dir / DIGEST_FILE, {"format": 1, "algorithm": "sha256", "files": files})


def verify(run_dir: Path, experiment: Path) -> None:
    """Refuse (one line) unless every file a restore of ``experiment`` unpickles has a recorded digest."""
    names = unpickled_files(experiment) if experiment.is_dir() else []
    if not names:
        return
    files = _load(run_dir)
    for name in names:
        if sha256(experiment / name) not in files.get(name.as_posix(), ()):
            why = "it was not written by this toolkit" if files else f"{run_dir / DIGEST_FILE} is missing"
            raise NasError(
                f"{experiment / name}: refusing to resume: {why} (its SHA-256 digest is not recorded), and "
                "restoring would unpickle it; use another --out, or delete the run directory to start over"
            )


def begin(run_dir: Path) -> None:
    """This process's search now writes to ``run_dir`` (the driver runs one search at a time)."""
    _active["run_dir"], _active["staging"] = run_dir, None


def end() -> None:
    _active["run_dir"], _active["staging"] = None, None


def record_tuner(run_dir: Path, experiment: Path) -> None:
    """Record ``tuner.pkl``, which Tune writes straight into the experiment directory."""
    record(run_dir, experiment, [Path("tuner.pkl")])


def note_staging_dir(path: str | Path) -> None:
    """Called by the searcher's ``save_to_dir``: where Tune is staging the state it saves now."""
    _active["staging"] = Path(path)


def record_staged() -> None:
    """Record the state Tune has just staged (called from the ``DigestRecorder`` callback of :mod:`nas.tune.tuner`)."""
    run_dir, staging = _active["run_dir"], _active["staging"]
    if run_dir is not None and staging is not None and staging.is_dir():
        record(run_dir, staging, unpickled_files(staging))
