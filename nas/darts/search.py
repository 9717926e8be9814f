"""The DARTS search job's run directory: start, resume or report a search, and write what it found.

:func:`run_search` (what :class:`nas.darts.job.DartsJob` runs) owns a run directory::

    config.json          the fully resolved config (compared on resume)
    checkpoint.pt        full state, rewritten atomically every epoch (and every N steps);
    checkpoint.prev.pt   the one before it, used when the newest is unreadable
    history.jsonl        one line per epoch: losses, accuracies, genotype, alphas, skip counts
    tb/                  TensorBoard scalars (step: the 1-based epoch)
    genotype.json        the derived genotype (canonical JSON), plus genotype.txt
    alphas.json          the final architecture weights
    result.json          written last: its presence means the run is finished

The run directory is checked, written and read back through :mod:`nas.runs`, like every
other job's; the loop itself is :mod:`nas.darts.search_loop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.darts import distributed as ddp
from nas.darts.config import RUN_ONLY_FIELDS, DartsSearchConfig, paper_scale_notice
from nas.darts.guards import skip_counts
from nas.darts.search_loop import EpochLog, Search, determinism, silent, weights_json
from nas.errors import NasError
from nas.genotypes.codec import load_genotype_file, save_genotype, to_text
from nas.genotypes.types import Genotype, NB201Genotype
from nas.metrics import count_parameters
from nas.networks import build
from nas.runs.atomic import read_json, remove_leftovers, write_json, write_text
from nas.runs.checkpoints import load_checkpoint, save_checkpoint
from nas.runs.device import resolve_device
from nas.runs.history import read_rows
from nas.runs.rundir import check_run_dir
from nas.search_protocol.job import Echo, SearchResult

CHECKPOINT = "checkpoint.pt"
CONTROLLER = "darts"


def run_search(
    config: DartsSearchConfig,
    run_dir: str | Path,
    *,
    progress: bool = True,
    echo: Echo = print,
) -> SearchResult:
    """Run (or resume, or report) the DARTS search of ``config`` in ``run_dir``.

    Under ``torchrun`` each rank calls this; rank 0 alone writes the run directory.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    ctx = ddp.init(device)
    if ctx.enabled and config.batch_size < ctx.world_size:
        raise NasError(f"batch_size: {config.batch_size} cannot be sharded over {ctx.world_size} processes")
    say = echo if ctx.is_main else silent
    status = check_run_dir(
        run_dir, config.resolved(), ignore=RUN_ONLY_FIELDS, complete_marker="result.json", checkpoint=CHECKPOINT
    )
    if status == "complete":
        return _finished(run_dir, say)
    if status == "new" and (notice := paper_scale_notice(config)):
        say(f"{run_dir}: {notice}")
    if ctx.is_main:
        remove_leftovers(run_dir)  # temporary files of writes a kill interrupted
    with determinism(config):
        search = Search(
            config,
            ctx,
            device,
            save=lambda state: save_checkpoint(state, run_dir / CHECKPOINT),
            echo=echo,
            progress=progress,
        )
        if status == "resume":
            _resume(search, run_dir, say)
        if ctx.is_main:
            write_json(run_dir / "config.json", config.resolved())
        ddp.barrier(ctx)
        log = EpochLog(run_dir, search.rows, ctx.is_main, say)
        try:
            search.run(log)
        finally:
            log.close()
        genotype = search.final_genotype()
        summary: dict[str, Any] = {}
        if ctx.is_main:
            summary = _write_outputs(search, genotype, run_dir)
    ddp.barrier(ctx)
    how = f"{'DARTS+ early stop after ' if search.stopped_early else ''}{search.epoch} epochs"
    say(f"genotype ({how}): {run_dir / 'genotype.json'}")
    say(to_text(genotype))
    if summary:
        say(checks_line(summary))
    return SearchResult(
        run_dir=run_dir,
        genotype=genotype,
        controller=CONTROLLER,
        epochs_run=search.epoch,
        stopped_early=search.stopped_early,
        arch_weights=weights_json(search.method),
        nb201=summary.get("nb201"),
        summary=summary,
    )


def _resume(search: Search, run_dir: Path, say: Echo) -> None:
    """Load the newest readable checkpoint (the previous one when the newest is corrupt, said in one line)."""

    def check(state: dict[str, Any]) -> None:  # a readable checkpoint of another supernet is tried like a bad one
        try:
            search.check_state(state)
        except NasError as exc:
            raise NasError(f"{run_dir}: a checkpoint {exc}") from None

    found = load_checkpoint(run_dir / CHECKPOINT, "search checkpoint", check=check, warn=say)
    if found is None:  # check_run_dir saw one; another process removed it since
        raise NasError(f"{run_dir}: the checkpoint disappeared while resuming; run the command again")
    state, path = found
    try:
        # Checkpoints written before the history rows were kept in them: the file's rows stand in.
        search.load(state, read_rows(run_dir / "history.jsonl"))
    except NasError as exc:
        raise NasError(f"{path}: {exc}") from None
    say(f"resuming {run_dir} at epoch {search.epoch + 1}, step {search.step}")


def _write_outputs(search: Search, genotype: Genotype, run_dir: Path) -> dict[str, Any]:
    """genotype.json and .txt, alphas.json, and last result.json (returned) that marks the run finished."""
    save_genotype(genotype, run_dir / "genotype.json")
    write_text(run_dir / "genotype.txt", to_text(genotype) + "\n")
    model, config = search.model, search.config
    alphas = {
        "space": config.space,
        "method": config.method.name,
        "ops": list(model.ops),
        "weights": weights_json(search.method),
        "alphas": [p.detach().cpu().double().tolist() for p in model.arch_parameters()],
    }
    write_json(run_dir / "alphas.json", alphas)
    result: dict[str, Any] = {
        "controller": CONTROLLER,
        "method": config.method.name,
        "selection": config.selection.name,
        "selection_record": search.selection.record,
        "space": config.space,
        "seed": config.seed,
        "genotype": to_text(genotype),
        "skip_counts": skip_counts(genotype),
        "eval_params": eval_params(genotype, search.data.num_classes),
        "epochs_run": search.epoch,
        "stopped_early": search.stopped_early,
        "search_time_s": round(search.elapsed, 3),
        "world_size": search.ctx.world_size,
        "nb201": None,
    }
    if search.table is not None and isinstance(genotype, NB201Genotype):
        result["nb201"] = search.table.query(genotype).to_dict()
    if search.rows:
        last = search.rows[-1]
        result.update({k: last.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")})
    write_json(run_dir / "result.json", result)
    return result


def eval_params(genotype: Genotype, num_classes: int) -> int:
    """Parameters of the cell's network at the evaluation size (DARTS: C=36, 20 cells; NB201: C=16, N=5).

    One of the checks a user has without a benchmark table: a cell of skips and pools is small.
    """
    return count_parameters(build(genotype, num_classes))


def checks_line(result: dict[str, Any]) -> str:
    """What can be checked without a table: skip connections per cell type and the evaluation size."""
    skips = ", ".join(f"{k} {v}" for k, v in (result.get("skip_counts") or {}).items())
    params = result.get("eval_params")
    size = f"; {params / 1e6:.2f}M parameters at the evaluation size" if params else ""
    return f"skip connections: {skips or 'none counted'}{size}"


def _finished(run_dir: Path, say: Echo) -> SearchResult:
    """A finished run, reported from its files (nothing is recomputed)."""
    genotype = load_genotype_file(run_dir / "genotype.json")
    result = read_json(run_dir / "result.json", "the search result")
    if not isinstance(result, dict):
        raise NasError(f"{run_dir / 'result.json'}: expected a JSON object")
    say(f"{run_dir}: search already finished ({result.get('epochs_run', '?')} epochs); genotype:")
    say(to_text(genotype))
    if "eval_params" in result:  # runs finished before it was recorded have no such line
        say(checks_line(result))
    alphas = run_dir / "alphas.json"
    weights = read_json(alphas, "the architecture weights").get("weights") if alphas.is_file() else None
    return SearchResult(
        run_dir=run_dir,
        genotype=genotype,
        controller=CONTROLLER,
        already_finished=True,
        epochs_run=int(result.get("epochs_run", 0)),
        stopped_early=bool(result.get("stopped_early")),
        arch_weights=weights,
        nb201=result.get("nb201"),
        summary=result,
    )
