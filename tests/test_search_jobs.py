"""The search-job registry and runner: what ``nas search`` accepts and refuses before any search starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas import controllers
from nas.cli import main as cli_main
from nas.errors import NasError
from nas.search import registry, runner


@pytest.mark.parametrize("name", [*controllers.CONTROLLERS, *controllers.ALIASES])
def test_every_controller_name_and_alias_has_a_job(name: str) -> None:
    job = registry.get(name)
    assert job.uses_ray
    assert job.name == controllers.controller_class(name).name
    assert registry.get(name.upper().replace("_", "-")).name == job.name


def test_darts_is_a_weight_sharing_job_and_names_are_listed_once() -> None:
    assert not registry.get("darts").uses_ray
    names = registry.names()
    assert names[0] == "darts" and len(names) == len(set(names))
    assert set(controllers.CONTROLLERS) <= set(names)


def test_unknown_controller_lists_names_and_aliases() -> None:
    with pytest.raises(NasError, match=r"controller: unknown controller 'nope' \(known: darts, random.*aliases: .*rea"):
        registry.get("nope")


def test_empty_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here\n")
    assert cli_main(["search", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas search: error: empty.yaml: the config is empty; expected at least `controller`")
    assert "\n" not in err
    assert not (tmp_path / "run").exists()


def test_missing_controller_says_darts_is_used() -> None:
    said: list[str] = []
    job = runner.select_job({"epochs": 1}, source="x.yaml", overridden={}, echo=said.append)
    assert job.name == "darts" and said == ["x.yaml: no `controller` given; running darts"]


def test_ray_flags_are_refused_for_darts() -> None:
    with pytest.raises(NasError, match="^--workers: only for trial-based controllers"):
        runner.select_job({"controller": "darts", "workers": 2}, source="c.yaml", overridden={"workers": "--workers 2"})


@pytest.mark.parametrize(
    "args",
    [
        ["--seeds", "99999999999999999999"],
        ["--seeds", "4294967296"],
        ["--seeds", "0,x"],
        ["--seeds", "1,1"],
    ],
)
def test_bad_seeds_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("controller: random\nspace: nb201\n")
    assert cli_main(["search", "--config", str(cfg), "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas search: error: --seeds: ") and "\n" not in err


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["export", "somewhere", "--format", "pdf"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas export: error: argument --format: invalid choice: 'pdf'") and "\n" not in err
