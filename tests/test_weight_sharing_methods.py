"""Weight-sharing methods as strategies: single-path forward, schedules, candidate search, runs in both spaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.darts import search_loop
from nas.darts.config import apply_overrides, load_config
from nas.darts.job import DartsJob
from nas.darts.methods import METHODS, method_class
from nas.darts.methods.gdas import gumbel_hard, tau_at
from nas.darts.methods.spos import fixed_batches
from nas.darts.single_path import DartsSinglePath, NB201SinglePath
from nas.errors import NasError
from nas.genotypes.types import NB201_OPS, DartsGenotype, NB201Genotype

TINY: dict[str, Any] = {
    "controller": "darts",
    "space": "nb201",
    "dataset": "synthetic",
    "train_subset": 60,
    "supernet": {"channels": 4, "cells_per_stage": 1},
    "epochs": 2,
    "batch_size": 10,
    "threads": 1,
    "seed": 0,
}
SPOS = {"candidates": 6, "epoch_candidates": 3, "val_batches": 1, "population": 3, "sample_size": 2}
TINY_DARTS: dict[str, Any] = {**TINY, "space": "darts", "supernet": {"channels": 4, "layers": 3}}


def tiny(method: str, base: dict[str, Any] = TINY, **updates: Any) -> dict[str, Any]:
    section = {"name": method, **(SPOS if method == "spos" else {})}
    return apply_overrides({**base, "method": section}, {k.replace("__", "."): v for k, v in updates.items()})


def quiet_run(raw: dict[str, Any], run_dir: Path) -> Any:
    return DartsJob().run(load_config(raw), run_dir, progress=False, echo=lambda _s: None)


def _count_calls(net: torch.nn.Module) -> dict[tuple[int, int, str], int]:
    calls: dict[tuple[int, int, str], int] = {}
    for c, cell in enumerate(net.cells):
        dag = getattr(cell, "dag", cell)
        if not hasattr(dag, "edges"):
            continue
        for e, edge in enumerate(dag.edges):
            for name, op in edge.items():

                def hook(_m: Any, _i: Any, _o: Any, key: tuple[int, int, str] = (c, e, name)) -> None:
                    calls[key] = calls.get(key, 0) + 1

                op.register_forward_hook(hook)
    return calls


def _method(name: str, raw: dict[str, Any], net: Any) -> Any:
    config = load_config(raw)
    return method_class(name)(config.method, config, net, None)


def test_gdas_forward_runs_only_the_sampled_op_and_alphas_get_gradients() -> None:
    torch.manual_seed(0)
    net = NB201SinglePath(channels=4, cells_per_stage=1)
    _method("gdas", tiny("gdas"), net)
    calls = _count_calls(net)
    net.train()
    loss = net(torch.randn(4, 3, 16, 16)).logsumexp(1).mean()
    cells = {c for c, _, _ in calls}
    assert len(cells) == 3
    for c in cells:
        for e in range(6):
            assert sum(n for (cc, ee, _), n in calls.items() if (cc, ee) == (c, e)) <= 1  # at most one op (none: 0)
    # the same sampled op on an edge in every cell (one sample per forward, shared by cells)
    for e in range(6):
        assert len({name for (_, ee, name) in calls if ee == e}) <= 1
    loss.backward()
    grad = net.alphas.grad
    assert grad is not None and torch.isfinite(grad).all() and (grad.abs().sum(1) > 0).sum() >= 3


def test_gdas_in_the_darts_space_samples_one_op_per_edge_per_cell_type() -> None:
    torch.manual_seed(0)
    net = DartsSinglePath(channels=4, layers=3)
    method = _method("gdas", tiny("gdas", TINY_DARTS), net)
    arch = method.sample(True)
    assert set(arch) == {"normal", "reduce"}
    for a in arch.values():
        assert a.active is not None and all(len(k) == 1 for k in a.active) and a.weights.shape == (14, 8)
    calls = _count_calls(net)
    net(torch.randn(2, 3, 16, 16)).sum().backward()
    per_edge: dict[tuple[int, int], int] = {}
    for (c, e, _name), n in calls.items():
        per_edge[(c, e)] = per_edge.get((c, e), 0) + n
    assert per_edge and max(per_edge.values()) == 1
    assert net.alphas_normal.grad is not None and net.alphas_reduce.grad is not None
    assert isinstance(method.derive(), DartsGenotype)


def test_gumbel_hard_is_one_hot_with_straight_through_gradient() -> None:
    alphas = torch.zeros(6, 5, requires_grad=True)
    hard, index = gumbel_hard(alphas, 1.0)
    assert torch.equal(hard.detach(), torch.nn.functional.one_hot(index, 5).float())
    (hard * torch.arange(5.0)).sum().backward()
    assert alphas.grad is not None and alphas.grad.abs().sum() > 0


def test_tau_schedule_endpoints() -> None:
    assert tau_at(0, 15, 10.0, 0.1) == 10.0
    assert tau_at(14, 15, 10.0, 0.1) == pytest.approx(0.1)
    assert tau_at(7, 15, 10.0, 0.1) == pytest.approx(5.05)


def test_spos_samples_uniformly_and_trains_no_arch_params() -> None:
    torch.manual_seed(0)
    net = NB201SinglePath(channels=4, cells_per_stage=1)
    method = _method("spos", tiny("spos"), net)
    assert not method.trains_arch and method.arch_optimizer() is None
    counts = torch.zeros(6, 5)
    for _ in range(2000):
        counts[torch.arange(6), torch.tensor([k for (k,) in net.random_path()["cell"]])] += 1
    assert (counts / 2000 - 0.2).abs().max() < 0.04


def test_darts_space_random_path_is_a_valid_cell() -> None:
    torch.manual_seed(1)
    net = DartsSinglePath(channels=4, layers=3)
    for _ in range(20):
        path = net.random_path()
        for active in path.values():
            start = 0
            for i in range(4):
                node = active[start : start + i + 2]
                assert sum(len(k) for k in node) == 2 and all(net.ops[k] != "none" for ks in node for k in ks)
                start += i + 2


def test_spos_candidate_search_drives_a_controller_and_keeps_the_best(monkeypatch: Any) -> None:
    """SPOS proposes candidates with nas.controllers and keeps the best supernet score (not the table)."""
    from nas.darts.methods import spos as spos_module

    net = NB201SinglePath(channels=4, cells_per_stage=1)
    method = _method("spos", tiny("spos", **{"method.candidates": 60, "method.population": 10}), net)
    seen: list[NB201Genotype] = []

    def oracle(_model: Any, genotype: NB201Genotype, _batches: Any) -> float:
        seen.append(genotype)
        return float(sum(op == "nor_conv_3x3" for op in genotype.ops))

    monkeypatch.setattr(spos_module, "score_genotype", oracle)
    monkeypatch.setattr(spos_module, "fixed_batches", lambda *_a: [])
    record = method.end_epoch(1, 2, type("E", (), {"eval_loader": None})())
    assert len(seen) == 60 and record["spos"]["strategy"] == "evolution"
    best = max(oracle(None, g, None) for g in seen[:])
    assert sum(op == "nor_conv_3x3" for op in method.derive().ops) == best


def test_every_registered_method_is_one_file_with_a_config_section() -> None:
    for name in METHODS.names():
        cls = method_class(name)
        assert cls.name == name and cls.Config.model_fields["name"].default == name
        assert cls.__module__ == f"nas.darts.methods.{name}"


@pytest.mark.parametrize(
    ("method", "base"),
    [("gdas", TINY), ("spos", TINY), ("gdas", TINY_DARTS), ("spos", TINY_DARTS), ("beta_darts", TINY), ("drnas", TINY)],
)
def test_tiny_search_gives_a_valid_cell_and_resumes(
    method: str, base: dict[str, Any], tmp_path: Path, monkeypatch: Any
) -> None:
    raw = tiny(method, base, checkpoint_every_steps=1)
    ref = quiet_run(raw, tmp_path / "ref")
    kind = NB201Genotype if base is TINY else DartsGenotype
    assert isinstance(ref.genotype, kind)
    rows = [json.loads(line) for line in (tmp_path / "ref" / "history.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["genotype"] and r["method"] == method for r in rows)
    if method == "gdas":
        assert rows[0]["tau"] == 10.0 and rows[1]["tau"] == pytest.approx(0.1)
    elif method == "spos":
        assert rows[-1]["spos"]["strategy"] == "evolution" and rows[0]["spos"]["strategy"] == "random"
    elif method == "beta_darts":
        assert rows[0]["beta_weight"] == 0.0 and rows[1]["beta_weight"] == pytest.approx(0.5)  # 50 * 1 / 100

    original = search_loop.Search.save
    calls = {"n": 0}

    def save_then_die(self: Any) -> None:
        original(self)
        calls["n"] += 1
        if calls["n"] == 4:  # mid-epoch 2 (3 steps per epoch, a checkpoint after each)
            raise KeyboardInterrupt

    monkeypatch.setattr(search_loop.Search, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        quiet_run(raw, tmp_path / "run")
    monkeypatch.setattr(search_loop.Search, "save", original)
    said: list[str] = []
    again = DartsJob().run(load_config(raw), tmp_path / "run", progress=False, echo=said.append)
    assert any("resuming" in s for s in said)
    assert again.genotype == ref.genotype
    again_rows = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["genotype"] for r in again_rows] == [r["genotype"] for r in rows]
    assert again_rows[-1]["train_loss"] == pytest.approx(rows[-1]["train_loss"])


def test_beta_darts_schedule_is_the_authors_constant_100_unless_stretched() -> None:
    """The authors divide by a hard-coded 100; stretching to the search's epochs is a named deviation."""
    from nas.darts.methods.beta_darts import BetaDarts

    method = object.__new__(BetaDarts)
    method.config = load_config(tiny("beta_darts")).method
    assert [method.begin_epoch(e, 15)["beta_weight"] for e in (0, 14)] == [0.0, pytest.approx(7.0)]
    method.config = load_config(tiny("beta_darts", method__schedule_epochs=None)).method
    assert method.begin_epoch(14, 15)["beta_weight"] == pytest.approx(50 * 14 / 15)
    with pytest.raises(NasError, match="schedule_epochs"):
        load_config(tiny("beta_darts", method__schedule_epochs=0))


def test_nb201_from_ops_order() -> None:
    g = NB201Genotype.from_ops([NB201_OPS[k] for k in [0, 1, 2, 3, 4, 1]])
    assert g.ops == tuple(NB201_OPS[k] for k in [0, 1, 2, 3, 4, 1])


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"method": "enas"}, "unknown search method 'enas'"),
        ({"method": {"name": "gdas", "order": "second"}}, "method.gdas.order"),
        ({"order": "second"}, "order: gdas is first order"),
        ({"method": {"name": "gdas", "tau_max": 0.05, "tau_min": 0.1}}, "method.tau_min"),
        ({"gdas": {"tau_max": 0.05, "tau_min": 0.1}}, "method.tau_min"),  # the earlier top-level section
        ({"method": {"name": "gdas", "tau_max": -1}}, "tau_max"),
        ({"method": {"name": "spos", "candidates": 0}}, "candidates"),
        ({"method": {"name": "spos", "strategy": "bayes"}}, "strategy"),
        ({"spos": {"candidates": 3}}, "spos: settings of method spos, but the method is gdas"),
        ({"supernet": {"channels": 4, "cells_per_stage": 1, "partial_channels": 2}}, "supernet.partial_channels"),
        ({"selection": "darts_pt"}, "selection: darts_pt perturbs every operation"),
        ({"selection": "nope"}, "selection"),
    ],
)
def test_bad_values_are_one_line_errors(updates: dict[str, Any], message: str) -> None:
    raw = {**tiny("gdas"), **updates}
    with pytest.raises(NasError) as err:
        load_config(raw, source="x.yaml")
    text = str(err.value)
    assert "\n" not in text and message in text, text


def test_spos_rejects_arch_guards() -> None:
    with pytest.raises(NasError, match="guards.max_skip: not used by method spos"):
        load_config(tiny("spos", guards__max_skip=1))


class _SortedLoader:
    """Batches of a class-sorted data set, like the evaluation loader of a class-ordered folder."""

    def __init__(self) -> None:
        self.y = torch.arange(10).repeat_interleave(10)

    def set_epoch(self, _epoch: int) -> None:
        pass

    def __iter__(self) -> Any:
        for i in range(0, 100, 10):
            yield torch.zeros(10, 1), self.y[i : i + 10]


def test_candidates_are_scored_on_a_fixed_random_sample_of_the_val_half() -> None:
    a = fixed_batches(_SortedLoader(), 2, seed=0)
    assert len(a) == 2 and all(len(y) == 10 for _, y in a)
    assert len(torch.cat([y for _, y in a]).unique()) >= 5  # not the first, single-class batches
    assert all(torch.equal(p[1], q[1]) for p, q in zip(a, fixed_batches(_SortedLoader(), 2, seed=0)))


def test_evaluation_batches_mix_classes_in_one_fixed_order() -> None:
    """Cells whose batch norms keep no running statistics are normalised per batch: one class a batch scored ~10%."""
    from nas.darts.search_data import load_data, loaders

    config = load_config(tiny("gdas", train_subset=200, batch_size=20))
    data = load_data(config)
    assert torch.equal(data.labels[data.val_idx], data.labels[data.val_idx].sort().values)  # the half: class-sorted
    _, _, evaluate = loaders(config, data, torch.device("cpu"))
    first = [y for _, y in evaluate]
    assert all(len(y.unique()) >= 4 for y in first)
    evaluate.set_epoch(0)
    assert all(torch.equal(a, b) for a, b in zip(first, (y for _, y in evaluate)))
    assert sorted(torch.cat(first).tolist()) == sorted(data.labels[data.val_idx].tolist())  # the whole half, once


def test_weight_sharing_tuning_logs_read_validation_only_and_the_tuned_method_is_what_they_chose() -> None:
    """benchmarks/tune_weight_sharing_nb201.py: seeds disjoint from the reported 0-9, no test figure in its rows."""
    import sys

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        import bench_weight_sharing_nb201 as bench
    finally:
        sys.path.remove(str(repo / "benchmarks"))
    logs = sorted((repo / "benchmarks" / "results").glob("tune_*_*.json"))
    logs = [p for p in logs if "c10_valid" in json.loads(p.read_text()).get("objective", "")]
    assert len(logs) >= 2
    for path in logs:
        log = json.loads(path.read_text())
        assert not set(log["seeds"]) & set(range(10)), path.name
        assert "test" not in log["objective"]
        assert all(not any(w in k for w in ("test", "rank", "percentile")) for r in log["runs"] for k in r)
        best = max(log["by_value"], key=lambda o: o["c10_valid_mean"])
        assert log["chosen"] == best["value"]
    for name, (file, key) in bench.TUNED.items():
        log = json.loads((repo / "benchmarks" / "results" / file).read_text())
        config_file, overrides = bench.METHODS[name]
        raw = apply_overrides(bench.read_yaml(bench.EXP / config_file), {})
        value = overrides[key]
        value = int(raw["epochs"]) // 2 if value == "half" else value
        assert value == log["chosen"], name
        base_file, base_overrides = bench.METHODS[log["method"]]  # the tuned method = the base + the chosen value
        assert (base_file, base_overrides) == (config_file, {k: v for k, v in overrides.items() if k != key})


def test_weight_sharing_benchmark_reuses_rows_of_an_earlier_file_only_for_missing_run_dirs(tmp_path: Path) -> None:
    """``--reuse``: a finished benchmark is gathered in a fresh checkout without rerunning; a bad file is one line."""
    import sys

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        import bench_weight_sharing_nb201 as bench
    finally:
        sys.path.remove(str(repo / "benchmarks"))
    row = {"method": "GDAS", "seed": 7, "cell": "c", "skips": 1, "search_val_acc": 20.0, "search_time_s": 9.0}
    row.update(time_per_step_s=0.1, c10_test=91.0, percentile=50.0, per_epoch_test=[90.0, 91.0])
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"runs": [row]}))
    out, results = tmp_path / "runs", tmp_path / "res"
    argv = ["--methods", "1", "--seeds", "7", "--reuse", str(earlier), "--out", str(out), "--results", str(results)]
    assert bench.main(argv) == 0
    written = json.loads(results.with_suffix(".json").read_text())
    assert written["runs"] == [{**row, "reused_from": str(earlier)}]
    assert written["summary"][0]["c10_test_mean"] == 91.0
    assert not out.exists()  # nothing was searched
    earlier.write_text("{not json")
    with pytest.raises(SystemExit, match=r"^--reuse .*earlier.json: expected a result .json"):
        bench.main(argv)
