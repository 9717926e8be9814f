"""The README's Python API examples run as written (on real CIFAR-10, cut small by their own overrides)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _api_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)
    assert len(section) == 2, "README.md has no '## Python API' section"
    body = section[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_readme_is_a_guide_not_a_results_log() -> None:
    # Results live in docs/results.md; the README keeps one headline table that links there.
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 10 * 1024
    assert "(docs/results.md)" in text
    assert text.count("\n## Results") == 1 and "\n### " not in text
    for section in ("## Two commands", "## Python API", "## Extending"):
        assert f"\n{section}\n" in text, section
    assert "make demo" in text and "make test" in text


def test_readme_links_point_to_files() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "README.md links to no documentation page"
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_recommended_search_is_the_measured_benchmark_row() -> None:
    """The README's recommended command runs exactly the config of the benchmark row its figure comes from."""
    from nas.config_io import apply_overrides, parse_override, read_yaml

    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(
        r"recommended weight-sharing\s+search is the next command: `nas search --config (\S+)((?: --set \S+)*)`", text
    )
    assert found, "README.md names no recommended weight-sharing search"
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_weight_sharing_nb201 as bench
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    file, overrides = bench.METHODS["Zero-Cost-PT (CPU size, synflow post-validation)"]
    assert found.group(1) + ".yaml" == file
    given = dict(parse_override(item) for item in found.group(2).split(" --set ")[1:])
    assert apply_overrides(read_yaml(bench.EXP / file), given) == apply_overrides(
        read_yaml(bench.EXP / file), overrides
    )


def test_readme_has_api_examples() -> None:
    blocks = _api_blocks()
    assert blocks and all(f"nas.{name}(" in "".join(blocks) for name in ("genotype", "build", "train", "load_run"))
    assert "nas.search(" in "".join(blocks)


@pytest.mark.data
def test_readme_api_examples_run(tmp_path: Path, cifar10_dir: Path) -> None:
    (tmp_path / "experiments").symlink_to(REPO / "experiments")
    script = tmp_path / "example.py"
    script.write_text("\n".join(_api_blocks()), encoding="utf-8")
    env = {**os.environ, "NAS_DATA_DIR": str(cifar10_dir), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "runs" / "api-resnet20" / "result.json").is_file()
    assert (tmp_path / "runs" / "api-search" / "genotype.json").is_file()
    assert (tmp_path / "runs" / "api-retrain" / "result.json").is_file()
