"""Ray Tune searchers: our controllers behind Tune's ``Searcher`` API, and OptunaSearch made resumable.

:class:`ControllerSearcher` wraps any :mod:`nas.controllers` controller (random,
evolution, REINFORCE, LSTM): ``suggest`` asks it for a genotype, ``on_trial_complete``
tells it the trial's score, and ``get_state``/``set_state`` (Ray's names; ``save`` and
``restore`` write and read them as a JSON file) hold its whole state, so a restored
experiment continues with exactly the controller it had. With a NAS-Bench-201
``protocol`` it also runs the paper's simulated budget (:class:`nas.nb201_protocol.BudgetedSearch`):
every proposal is a trial (with ``skip_known``, known cells are answered from the cache
without one), and it finishes when the next query would exceed the budget.

Every suggestion carries a trial *key*, ``NNNNN-<hash of the genotype>``: the trial keeps
its files under ``RUN_DIR/trials/KEY``. A driver killed after a suggestion but before Tune
saved its experiment state replays the same suggestion after the restore (controllers are
deterministic given their state), gets the same key, and the trial continues from the
checkpoint it had written instead of starting again.

:class:`NasOptunaSearch` is Ray Tune's ``OptunaSearch`` with four fixes for long searches:
it limits concurrency itself (Tune's ``ConcurrencyLimiter`` forgets its running trials on
restore and then drops their results), it seeds the sampler of each new trial by the
trial's number in the study (processes sharing one study, and a run restored from older
saved state, would otherwise draw the same parameters again), it hands an Optuna trial
that was asked just before a kill to the next Tune trial instead of asking a new one (so
the study never holds a trial twice), and trials stopped early by ASHA are told to Optuna
as PRUNED rather than COMPLETE with a truncated score.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from nas.controllers import ControllerOptions, create_controller
from nas.genotypes.codec import from_json, to_json
from nas.genotypes.types import Genotype, NB201Genotype
from nas.metrics import count_flops, count_parameters
from nas.nb201_protocol import BudgetedSearch
from nas.nb201_table import NB201Table
from nas.runs.atomic import read_json, write_json
from nas.search_spaces import get_space
from nas.tune import trust

#: The metric every trial reports and searchers maximise: best validation top-1 so far (%).
METRIC = "val_accuracy"


def trial_key(prefix: str, index: int, genotype_json: str) -> str:
    """``PNNNNN-hash``: unique per suggestion, and equal when a suggestion is replayed."""
    digest = hashlib.sha1(genotype_json.encode("utf-8")).hexdigest()[:10]
    return f"{prefix}{index:05d}-{digest}"


@dataclass(frozen=True)
class TableProtocol:
    """The NAS-Bench-201 protocol of a table search: the table, the simulated budget, convergence."""

    table: str
    budget_s: float
    max_stale: int
    #: The lenient variant: a cell proposed again is answered from the cache, unpaid (not the paper's rule).
    skip_known: bool = False


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def size_metrics(result: Mapping[str, Any] | None) -> dict[str, float]:
    """``params``/``flops`` of a trial result, for multi-objective controllers."""
    out = {}
    for key in ("params", "flops"):
        v = _finite((result or {}).get(key))
        if v is not None:
            out[key] = v
    return out


class ControllerSearcher(Searcher):
    """A :mod:`nas.controllers` controller as a Ray Tune searcher (save/restore as JSON)."""

    def __init__(
        self,
        controller: str,
        space: str,
        *,
        seed: int = 0,
        options: ControllerOptions | Mapping[str, Any] | None = None,
        max_trials: int | None = None,
        max_concurrent: int = 1,
        protocol: TableProtocol | None = None,
        state_file: str | None = None,
        metric: str = METRIC,
        mode: str = "max",
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.controller_name = controller
        self.space_name = space
        self.seed = seed
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent
        self.state_file = state_file
        self.controller = create_controller(controller, get_space(space), seed=seed, options=options)
        self.protocol = protocol
        self.search: BudgetedSearch | None = None
        if protocol is not None:
            self.search = BudgetedSearch(
                self.controller,
                budget_s=protocol.budget_s,
                skip_known=protocol.skip_known,
                max_stale=protocol.max_stale,
            )
        self.live: dict[str, dict[str, Any]] = {}  # Tune trial id -> suggestion
        self.completed: list[dict[str, Any]] = []  # in completion order: trial id, key, score
        self.num_suggested = 0
        self.finished = False
        self._table: NB201Table | None = None

    # ---------------------------------------------------------------- Tune API
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.finished:
            return Searcher.FINISHED
        if self.max_trials is not None and self.num_suggested >= self.max_trials:
            self.finished = True
            return Searcher.FINISHED
        if len(self.live) >= self.max_concurrent:
            return None
        if self.search is not None:
            genotype = self.search.next_query(self._cost_of)
            if genotype is None:
                self.finished = True
                self._write_state()
                return Searcher.FINISHED
        else:
            genotype = self.controller.propose()
        text = to_json(genotype)
        index = self.num_suggested
        self.num_suggested += 1
        suggestion = {"genotype": text, "key": trial_key("", index, text), "index": index}
        self.live[trial_id] = suggestion
        return dict(suggestion)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        suggestion = self.live.pop(trial_id, None)
        if suggestion is None:  # a trial retried after a restore: its outcome was already counted
            return
        genotype = from_json(suggestion["genotype"])
        score = None if error or not result else _finite(result.get(self.metric))
        if self.search is not None:
            if score is None or result is None:
                self.search.fail(genotype)
            else:
                test, cost = float(result["test_accuracy"]), float(result["cost_s"])
                self.search.record(genotype, score, test, cost, size_metrics(result))
        else:
            self.controller.observe(genotype, score, size_metrics(result))
        self.completed.append({"trial_id": trial_id, "key": suggestion["key"], "score": score})

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict[str, Any]:
        """A snapshot of the whole state as JSON data: controller, protocol, live and completed trials."""
        return {
            "controller": self.controller.state_dict(),
            "search": None if self.search is None else self.search.state_dict(),
            "live": {k: dict(v) for k, v in self.live.items()},
            "completed": [dict(c) for c in self.completed],
            "num_suggested": self.num_suggested,
            "finished": self.finished,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of a searcher of the same controller, space and seed."""
        self.controller.load_state_dict(state["controller"])
        if self.search is not None and state.get("search") is not None:
            self.search.load_state_dict(state["search"])
        self.live = {k: dict(v) for k, v in state["live"].items()}
        self.completed = list(state["completed"])
        self.num_suggested = int(state["num_suggested"])
        self.finished = bool(state["finished"])

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        trust.note_staging_dir(checkpoint_dir)  # the digests of this save are recorded from there
        super().save_to_dir(checkpoint_dir, session_str)

    def save(self, checkpoint_path: str) -> None:
        """Tune's experiment checkpoint (at most every ``experiment_checkpoint_s``, and at the end)."""
        state = self.get_state()
        write_json(checkpoint_path, state, indent=1, sort_keys=True)
        if self.state_file:
            write_json(self.state_file, state, indent=1, sort_keys=True)

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(read_json(checkpoint_path, "searcher state"))

    def _write_state(self) -> None:
        """A readable copy of the state in the run directory (the report reads the protocol from it).

        Written with every experiment checkpoint and when the search finishes, not after every
        trial: Tune's checkpoint is what a resume reads, and a table trial takes milliseconds.
        """
        if self.state_file:
            write_json(self.state_file, self.get_state(), indent=1, sort_keys=True)

    # ---------------------------------------------------------------- helpers
    def _cost_of(self, genotype: Genotype) -> float:
        if self.protocol is None or not isinstance(genotype, NB201Genotype):
            raise ValueError("ControllerSearcher: a cost is only asked for NAS-Bench-201 cells under the protocol")
        if self._table is None:
            self._table = NB201Table.load(self.protocol.table)
        return self._table.query(genotype).cost_12ep_s

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_table"] = None  # reloaded on demand; never pickled into Tune's experiment state
        return state


# --------------------------------------------------------------------------- #
# Optuna
# --------------------------------------------------------------------------- #


def define_by_run(
    trial: Any,
    *,
    space: str,
    encoding: str,
    run_id: str,
    constraints: Mapping[str, float] | None = None,
    build_options: Mapping[str, Any] | None = None,
    input_size: tuple[int, ...] = (1, 3, 32, 32),
) -> dict[str, Any]:
    """OptunaSearch's define-by-run space: one parameter per decision, then the genotype.

    Module-level (OptunaSearch is pickled at every experiment checkpoint). With budgets
    (``constraints``: ``params``/``flops`` -> maximum) the network is built once here to
    measure it, and the excess is set as an Optuna constraint before the trial runs.
    """
    s = get_space(space)
    values = []
    for d in s.decisions():
        n = len(d.choices)
        if encoding == "int":
            values.append(int(trial.suggest_int(d.name, 0, n - 1)))
        else:
            values.append(int(trial.suggest_categorical(d.name, list(range(n)))))
    genotype = s.from_decisions(values)
    text = to_json(genotype)
    if trial.user_attrs.get("nas_run") != run_id:  # not a trial re-read after a restore
        if constraints:
            model = s.build(genotype, **dict(build_options or {}))
            measured = {"params": float(count_parameters(model))}
            if "flops" in constraints:
                measured["flops"] = float(count_flops(model, input_size))
            for key, budget in constraints.items():
                trial.set_constraint(key, measured[key] - budget)
        trial.set_user_attr("genotype", text)
        trial.set_user_attr("nas_run", run_id)  # last: marks the trial as fully set up
    return {"genotype": text, "key": trial_key("o", trial.number, text), "index": trial.number}


class NasOptunaSearch(OptunaSearch):
    """OptunaSearch with its own concurrency limit, orphan reuse after a restore, and ASHA-aware telling."""

    def __init__(
        self,
        *args: Any,
        run_id: str,
        max_concurrent: int = 1,
        sampler_for: Callable[[int], optuna.samplers.BaseSampler] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.run_id = run_id
        self.max_concurrent = max_concurrent
        #: A fresh sampler for the study's trial number N (picklable), set for each new trial.
        self.sampler_for = sampler_for

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return True

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        trust.note_staging_dir(checkpoint_dir)  # see ControllerSearcher.save_to_dir
        super().save_to_dir(checkpoint_dir, session_str)

    @property
    def study(self) -> optuna.Study:
        """The study (OptunaSearch sets it up when given a space, as this searcher always is)."""
        if self._ot_study is None:
            raise RuntimeError("NasOptunaSearch: no study (the searcher was made without a space)")
        return self._ot_study

    def _live(self) -> int:
        return sum(1 for t in self._ot_trials if t not in self._completed_trials)

    def _orphan(self) -> Any:
        """A RUNNING trial of this run's study that no Tune trial holds (asked just before a kill)."""
        held = {t.number for t in self._ot_trials.values()}
        states = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        for frozen in self.study.get_trials(deepcopy=False, states=states):
            if frozen.number not in held and frozen.user_attrs.get("nas_run") == self.run_id:
                return optuna.Trial(self.study, frozen._trial_id)
        return None

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self._ot_trials:
            if self._live() >= self.max_concurrent:
                return None
            orphan = self._orphan()
            if orphan is not None:
                self._ot_trials[trial_id] = orphan  # the parent then re-reads its parameters
            elif self.sampler_for is not None:
                # Seeded by the new trial's number (unique in the study, assigned by its storage),
                # not by this process's RNG; Optuna samples lazily, after this swap.
                trial = self.study.ask()
                self.study.sampler = self.sampler_for(trial.number)
                self._ot_trials[trial_id] = trial
        with warnings.catch_warnings():  # measuring a network for a budget is not "training in the space"
            warnings.filterwarnings("ignore", message="Define-by-run function")
            return super().suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._ot_trials and self._ot_trials[trial_id] is not None:
            if isinstance(self.metric, list) or trial_id in self._completed_trials:
                return
            value = _finite(result.get(self.metric))
            step = result.get("epoch", result.get("training_iteration"))
            if value is not None and step is not None:
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # told before a kill
                    self._ot_trials[trial_id].report(value, int(step))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        frozen = self.study._storage.get_trial(ot_trial._trial_id)
        self._completed_trials.add(trial_id)
        if frozen.state.is_finished():  # told before a kill; Tune ran it again from its checkpoint
            return
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        got = [] if error or not result else [_finite(result.get(m)) for m in metrics]
        values = [v for v in got if v is not None]
        stopped_early = result is not None and result.get("epoch", 0) < result.get("epochs_total", 0)
        if len(values) != len(metrics):
            self.study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
        elif stopped_early:
            self.study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(ot_trial, values if len(values) > 1 else values[0], state=optuna.trial.TrialState.COMPLETE)
