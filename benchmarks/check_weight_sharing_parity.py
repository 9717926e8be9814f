"""Does the strategy refactor of weight-sharing search compute what the code before it computed?

Runs the same tiny searches (synthetic images, 2 epochs) in this checkout and in an older
checkout of the repository (``--old PATH``, e.g. ``git worktree add /tmp/old e1bfe68``), each
in its own process with ``PYTHONPATH`` set to that tree, and compares the derived cell and
every epoch's training and validation loss for exact equality:

    python benchmarks/check_weight_sharing_parity.py --old /tmp/old --out benchmarks/results/weight_sharing_parity.json

Configs are written in each tree's own format (the earlier one had ``supernet.weighting`` and
``guards.fair_darts_weight`` where the new one has ``method: fair_darts``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
from pathlib import Path

from _common import ROOT

BASE = {
    "controller": "darts",
    "space": "nb201",
    "dataset": "synthetic",
    "train_subset": 60,
    "supernet": {"channels": 4, "cells_per_stage": 1},
    "epochs": 2,
    "batch_size": 10,
    "threads": 1,
    "seed": 3,
}
#: name -> (config update in the new format, in the old format)
CASES: dict[str, tuple[dict, dict]] = {
    "DARTS first order": ({}, {}),
    "DARTS second order": ({"order": "second"}, {"order": "second"}),
    "PC-DARTS K=2": (
        {"supernet": {"channels": 4, "cells_per_stage": 1, "partial_channels": 2}},
        {"supernet": {"channels": 4, "cells_per_stage": 1, "partial_channels": 2}},
    ),
    "GDAS": ({"method": "gdas"}, {"method": "gdas"}),
    "Fair DARTS": (
        {"method": {"name": "fair_darts", "zero_one_weight": 10.0}},
        {
            "supernet": {"channels": 4, "cells_per_stage": 1, "weighting": "sigmoid"},
            "guards": {"fair_darts_weight": 10.0},
        },
    ),
    "DARTS space, PC-DARTS + edge normalisation": (
        {"space": "darts", "supernet": {"channels": 4, "layers": 3, "partial_channels": 2, "edge_normalization": True}},
        {"space": "darts", "supernet": {"channels": 4, "layers": 3, "partial_channels": 2, "edge_normalization": True}},
    ),
}
CHILD = """
import json, sys, tempfile
from nas.darts.config import load_config
from nas.darts.job import DartsJob
raw = json.loads(sys.argv[1])
d = tempfile.mkdtemp()
r = DartsJob().run(load_config(raw), d, progress=False, echo=lambda s: None)
rows = [json.loads(line) for line in open(d + "/history.jsonl")]
print(json.dumps({"cell": str(r.genotype), "train_loss": [x["train_loss"] for x in rows],
                  "val_loss": [x["val_loss"] for x in rows]}))
"""


def run(tree: Path, raw: dict) -> dict:
    env_path = str(tree)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(raw)],
        cwd=tree,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"{tree}: the search failed: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, help="path of an older checkout of this repository")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "weight_sharing_parity.json"))
    args = p.parse_args(argv)
    old = Path(args.old)
    if not (old / "nas" / "darts").is_dir():
        raise SystemExit(f"--old {old}: expected a checkout of this repository (no nas/darts there)")
    commit = subprocess.run(["git", "-C", str(old), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = []
    for name, (new_upd, old_upd) in CASES.items():
        a, b = run(ROOT, {**BASE, **new_upd}), run(old, {**BASE, **old_upd})
        rows.append({"case": name, "identical": a == b, "new": a, "old": b})
        print(f"{name:45s} {'identical' if a == b else 'DIFFERENT'}")
    result = {
        "command": "python benchmarks/check_weight_sharing_parity.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "old_commit": commit,
        "cases": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
