"""Trial-based controllers: registry errors, every space, determinism, JSON state, learning."""

from __future__ import annotations

import doctest
import json
import math

import pytest

import nas.controllers
from nas.controllers import CONTROLLERS as REGISTRY
from nas.controllers import (
    OptionsByController,
    controller_class,
    controller_options,
    create_controller,
    list_controllers,
)
from nas.controllers.optuna_controller import sampler_key
from nas.errors import NasError
from nas.genotypes.codec import to_json
from nas.genotypes.types import Genotype
from nas.search_spaces import get_space, list_spaces

CONTROLLERS = list_controllers()
#: The controllers of every space (proxy_evolution reads a table of NAS-Bench-201 cells: nb201 only).
ANY_SPACE = [n for n in CONTROLLERS if n != "proxy_evolution"]


def toy_score(space_name: str, genotype: Genotype) -> float:
    """A deterministic reward that prefers choice 0 everywhere (max 100)."""
    values = get_space(space_name).to_decisions(genotype)
    return 100.0 * sum(v == 0 for v in values) / len(values)


def drive(controller, space_name: str, steps: int) -> list[str]:
    out = []
    for _ in range(steps):
        g = controller.propose()
        out.append(to_json(g))
        controller.observe(g, toy_score(space_name, g), {"params": 1000.0 * len(out), "flops": 1e6})
    return out


def test_registry_lists_the_six_controllers() -> None:
    assert CONTROLLERS == ["random", "evolution", "reinforce", "lstm", "optuna", "proxy_evolution"]


def test_proxy_evolution_refuses_other_spaces() -> None:
    with pytest.raises(NasError, match="proxy_evolution: the proxy table holds NAS-Bench-201 cells; got space 'vgg'"):
        create_controller("proxy_evolution", get_space("vgg"))


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda s: create_controller("bayes", s), "unknown controller 'bayes' (known: random, evolution"),
        (lambda s: create_controller("evolution", s, options={"pop": 3}), "unknown option 'pop'"),
        (lambda s: create_controller("evolution", s, options={"population_size": 0}), "population_size"),
        (lambda s: create_controller("evolution", s, options={"population_size": 3, "sample_size": 5}), "at most"),
        (lambda s: create_controller("reinforce", s, options={"learning_rate": -1}), "learning_rate"),
        (lambda s: create_controller("random", s, seed=-1), "seed"),
        (lambda s: create_controller("optuna", s, options={"sampler": "annealing"}), "unknown sampler 'annealing'"),
        (lambda s: create_controller("optuna", s, options={"objectives": ["params"]}), "objectives"),
        (lambda s: create_controller("optuna", s, options={"sampler_options": {"bogus": 1}}), "sampler_options"),
    ],
)
def test_bad_names_and_options_are_one_line_errors(call, needle: str) -> None:
    with pytest.raises(NasError) as err:
        call(get_space("nb201"))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_the_module_docstring_example_runs() -> None:
    result = doctest.testmod(nas.controllers, raise_on_error=False)
    assert result.attempted >= 5 and result.failed == 0


#: Every option name each controller accepts (configs in experiments/ use them; renaming one breaks files).
OPTION_NAMES = {
    "random": [],
    "evolution": [
        "population_size",
        "sample_size",
        "avoid_duplicates",
        "max_mutation_tries",
        "sample_with_replacement",
    ],
    "reinforce": ["learning_rate", "baseline_momentum", "entropy_weight", "reward_scale", "baseline_includes_reward"],
    "lstm": [
        "hidden_size",
        "learning_rate",
        "baseline_momentum",
        "entropy_weight",
        "temperature",
        "tanh_constant",
        "reward_scale",
    ],
    "optuna": [
        "sampler",
        "sampler_options",
        "objectives",
        "max_params",
        "max_flops",
        "encoding",
        "storage",
        "study_name",
    ],
    "proxy_evolution": [
        "population_size",
        "sample_size",
        "avoid_duplicates",
        "max_mutation_tries",
        "sample_with_replacement",
        "scores",
        "warmup_samples",
        "move_proposal",
        "move_candidates",
        "move_random_prob",
    ],
}


@pytest.mark.parametrize("name", CONTROLLERS)
def test_options_are_one_frozen_model_per_controller(name: str) -> None:
    cls = controller_class(name)
    assert controller_options(name) == OPTION_NAMES[name]
    defaults = cls.Options()
    controller = create_controller(name, get_space("nb201"))
    assert controller.options == defaults and isinstance(controller.options, cls.Options)
    assert OptionsByController().of(name) == defaults  # a config without options gets the same defaults
    assert list(OptionsByController.model_fields) == CONTROLLERS  # one field per registered controller
    if OPTION_NAMES[name]:
        with pytest.raises(ValueError):
            setattr(controller.options, OPTION_NAMES[name][0], None)  # frozen


def test_options_as_model_mapping_or_keywords_are_the_same() -> None:
    space = get_space("nb201")
    cls = REGISTRY["evolution"]
    model = cls.Options(population_size=8, sample_size=4)
    a = create_controller("evolution", space, options=model)
    b = create_controller("rea", space, options={"population_size": 8, "sample_size": 4})
    c = create_controller("evolution", space, population_size=8, sample_size=4)
    d = cls(space, options={"population_size": 8}, sample_size=4)  # keywords override the mapping
    assert a.options is model and a.options == b.options == c.options == d.options
    assert drive(a, "nb201", 12) == drive(c, "nb201", 12)
    with pytest.raises(NasError, match="evolution: options: expected a mapping"):
        create_controller("evolution", space, options=[("population_size", 8)])  # type: ignore[arg-type]


def test_optuna_defaults_and_derived_settings_live_in_its_options() -> None:
    opts = REGISTRY["optuna"].Options()
    assert (opts.sampler, opts.objectives, opts.study_name, opts.storage) == ("tpe", ["accuracy"], "nas", None)
    assert opts.parameter_encoding == "categorical" and opts.constraints == {}
    nsga = REGISTRY["optuna"].Options(sampler="NSGA-II", objectives="accuracy", max_flops=1e6, encoding="int")
    assert nsga.sampler == "nsgaii" and nsga.objectives == ["accuracy"] and nsga.constraints == {"flops": 1e6}
    assert nsga.parameter_encoding == "int"


def test_aliases_and_sampler_names() -> None:
    space = get_space("nb201")
    assert create_controller("Regularized-Evolution", space).name == "evolution"
    assert sampler_key("CMA-ES") == "cmaes" and sampler_key("NSGA-II") == "nsgaii" and sampler_key("TPE") == "tpe"
    assert "population_size" in controller_options("evolution")


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("name", ANY_SPACE)
def test_every_controller_drives_every_space(name: str, space_name: str) -> None:
    space = get_space(space_name)
    controller = create_controller(name, space, seed=3)
    for _ in range(6):
        g = controller.propose()
        assert space.from_decisions(space.to_decisions(g)) == g  # a valid genotype of the space
        controller.observe(g, 50.0, {"params": 1e5, "flops": 1e6})
    assert controller.num_proposed == 6 and controller.num_observed == 6 and controller.num_pending == 0


@pytest.mark.parametrize("name", CONTROLLERS)
def test_same_seed_same_proposals_and_other_seed_differs(name: str) -> None:
    space = get_space("nb201")
    a = drive(create_controller(name, space, seed=5), "nb201", 25)
    b = drive(create_controller(name, space, seed=5), "nb201", 25)
    c = drive(create_controller(name, space, seed=6), "nb201", 25)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", ANY_SPACE)
def test_json_state_round_trip_continues_identically(name: str) -> None:
    space = get_space("resnet")
    original = create_controller(name, space, seed=2)
    drive(original, "resnet", 12)
    pending = original.propose()  # an outstanding proposal is part of the state
    state = json.loads(json.dumps(original.state_dict()))  # plain JSON, no pickle
    restored = create_controller(name, space, seed=99)
    restored.load_state_dict(state)
    assert restored.num_pending == 1
    for c in (original, restored):
        c.observe(pending, 40.0, {"params": 5e4, "flops": 1e6})
    assert drive(original, "resnet", 8) == drive(restored, "resnet", 8)


def test_state_of_another_controller_or_space_is_refused() -> None:
    state = create_controller("random", get_space("nb201")).state_dict()
    with pytest.raises(NasError, match="controller is 'random', expected 'evolution'"):
        create_controller("evolution", get_space("nb201")).load_state_dict(state)
    with pytest.raises(NasError, match="space is 'nb201', expected 'vgg'"):
        create_controller("random", get_space("vgg")).load_state_dict(state)


@pytest.mark.parametrize("name", CONTROLLERS)
def test_failed_trials_are_counted_and_the_search_goes_on(name: str) -> None:
    controller = create_controller(name, get_space("nb201"), seed=0)
    g = controller.propose()
    controller.observe(g, float("nan"))
    g = controller.propose()
    controller.observe(g, None)
    assert controller.num_failed == 2 and controller.num_observed == 0
    drive(controller, "nb201", 5)
    assert controller.num_observed == 5


def test_evolution_ages_its_population_and_mutates_one_decision() -> None:
    space = get_space("nb201")
    evo = create_controller("evolution", space, seed=0, options={"population_size": 8, "sample_size": 4})
    drive(evo, "nb201", 8)  # the random initial population
    assert len(evo.population) == 8
    oldest = evo.population[0][0]
    for _ in range(20):
        members = [v for v, _ in evo.population]
        child = space.to_decisions(evo.propose())
        assert min(sum(a != b for a, b in zip(child, m)) for m in members) == 1
        evo.observe(space.from_decisions(child), toy_score("nb201", space.from_decisions(child)))
        assert len(evo.population) == 8
    assert oldest not in [v for v, _ in evo.population][:1]


def test_evolution_beats_random_on_the_toy_reward() -> None:
    def best_after(name: str, seed: int) -> float:
        c = create_controller(name, get_space("nb201"), seed=seed, options={} if name == "random" else None)
        best = 0.0
        for _ in range(60):
            g = c.propose()
            s = toy_score("nb201", g)
            best = max(best, s)
            c.observe(g, s)
        return best

    evo = sum(best_after("evolution", s) for s in range(10)) / 10
    rnd = sum(best_after("random", s) for s in range(10)) / 10
    assert evo > rnd


@pytest.mark.parametrize("name", ["reinforce", "lstm"])
def test_policy_gradient_controllers_learn_the_toy_reward(name: str) -> None:
    controller = create_controller(name, get_space("vgg"), seed=0)
    scores = [toy_score("vgg", controller.space.from_decisions(controller.space.to_decisions(g))) for g in []]
    for _ in range(300):
        g = controller.propose()
        s = toy_score("vgg", g)
        scores.append(s)
        controller.observe(g, s)
    early, late = sum(scores[:50]) / 50, sum(scores[-50:]) / 50
    assert late > early + 20, (early, late)


def test_reinforce_entropy_falls_as_it_learns() -> None:
    controller = create_controller("reinforce", get_space("nb201"), seed=0)
    start = controller.entropy()
    assert math.isclose(start, 6 * math.log(5))
    drive(controller, "nb201", 200)
    assert controller.entropy() < start - 1.0


def test_reinforce_baseline_including_the_reward_is_the_official_bias_corrected_ema() -> None:
    # exps/NAS-Bench-201-algos/reinforce.py: baseline.update(reward); advantage = reward - baseline.value()
    controller = create_controller(
        "reinforce", get_space("nb201"), seed=0, options={"baseline_includes_reward": True, "baseline_momentum": 0.9}
    )
    numerator = denominator = 0.0
    for step in range(30):
        g = controller.propose()
        reward = toy_score("nb201", g) + step
        numerator = 0.9 * numerator + 0.1 * reward
        denominator = 0.9 * denominator + 0.1
        controller.observe(g, reward)
        assert controller.baseline == pytest.approx(numerator / denominator)
    state = json.loads(json.dumps(controller.state_dict()))
    again = create_controller("reinforce", get_space("nb201"), seed=0, options={"baseline_includes_reward": True})
    again.load_state_dict(state)
    g = controller.propose()
    assert again.propose() == g
    with pytest.raises(NasError, match="baseline_includes_reward"):
        create_controller("reinforce", get_space("nb201"), options={"baseline_includes_reward": 1})


def test_evolution_tournament_with_replacement_as_the_official_code() -> None:
    space = get_space("nb201")
    options = {"population_size": 4, "sample_size": 4, "sample_with_replacement": True, "avoid_duplicates": False}
    evo = create_controller("evolution", space, seed=1, options=options)
    drive(evo, "nb201", 4)
    parents = set()
    for _ in range(40):  # without replacement a full-size tournament always picks the best member
        best = max(v for _, v in evo.population)
        child = space.to_decisions(evo.propose())
        parent = min(evo.population, key=lambda m: sum(a != b for a, b in zip(child, m[0])))
        parents.add(parent[1] == best)
        evo.observe(space.from_decisions(child), toy_score("nb201", space.from_decisions(child)))
    assert parents == {True, False}
    with pytest.raises(NasError, match="sample_with_replacement"):
        create_controller("evolution", space, options={"sample_with_replacement": "no"})


def test_optuna_multi_objective_front_is_non_dominated_and_respects_the_budget() -> None:
    space = get_space("nb201")
    opt = create_controller(
        "optuna",
        space,
        seed=0,
        options={"sampler": "nsga2", "objectives": ["accuracy", "params"], "max_params": 4000.0},
    )
    seen = []
    for i in range(30):
        g = opt.propose()
        acc = toy_score("nb201", g)
        params = 1000.0 * (1 + (i * 7) % 6)
        seen.append((acc, params))
        opt.observe(g, acc, {"params": params})
    front = opt.pareto_front()
    assert front and all(r["params"] <= 4000.0 for r in front)
    for r in front:
        dominated = any(
            a >= r["accuracy"] and p <= r["params"] and (a, p) != (r["accuracy"], r["params"])
            for a, p in seen
            if p <= 4000.0
        )
        assert not dominated


def test_optuna_needs_the_size_metric_of_a_size_objective() -> None:
    opt = create_controller("optuna", get_space("nb201"), options={"objectives": ["accuracy", "flops"]})
    g = opt.propose()
    with pytest.raises(NasError, match="metrics\\['flops'\\]"):
        opt.observe(g, 50.0, {"params": 1.0})


@pytest.mark.parametrize("sampler", ["tpe", "random", "nsga2", "qmc", "cmaes"])
def test_optuna_samplers_by_name(sampler: str) -> None:
    try:
        opt = create_controller("optuna", get_space("vgg"), seed=1, options={"sampler": sampler})
    except NasError as exc:  # a sampler whose optional package is not installed says so in one line
        assert "needs the Python package" in str(exc)
        pytest.skip(str(exc))
    assert len(set(drive(opt, "vgg", 12))) > 1


def test_optuna_study_persists_in_sqlite_and_resumes(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = get_space("nb201")
    first = create_controller("optuna", space, seed=0, options={"storage": url})
    drive(first, "nb201", 5)
    again = create_controller("optuna", space, seed=0, options={"storage": url})
    assert len(again.study.trials) == 5
    drive(again, "nb201", 2)
    assert len(again.study.trials) == 7
