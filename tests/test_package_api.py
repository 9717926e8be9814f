"""`import nas` shows the five API functions and nothing else (help, dir, __all__), lazily."""

from __future__ import annotations

import pydoc
import re
import subprocess
import sys
from pathlib import Path

import nas
import nas.api

REPO = Path(__file__).resolve().parents[1]
API = {"build", "genotype", "load_run", "search", "train"}


def test_all_and_dir_are_exactly_the_api() -> None:
    assert set(nas.__all__) == API
    assert {name for name in dir(nas) if not name.startswith("_")} == API


def test_each_name_is_the_function_of_nas_api() -> None:
    for name in API:
        assert getattr(nas, name) is getattr(nas.api, name)
        assert callable(getattr(nas, name))


def test_unknown_attribute_is_an_attribute_error() -> None:
    assert not hasattr(nas, "search_jobs_typo")


def test_help_lists_the_api_functions_and_no_stray_names() -> None:
    text = pydoc.render_doc(nas, renderer=pydoc.plaintext)
    functions = text.split("\nFUNCTIONS\n", 1)[1]
    functions = re.split(r"\n[A-Z][A-Z ]+\n", functions, maxsplit=1)[0]
    listed = set(re.findall(r"^    (\w+)\(", functions, flags=re.M))
    assert listed == API
    sections = set(re.findall(r"^([A-Z][A-Z ]+)$", text, flags=re.M))
    assert "DATA" not in sections, "help(nas) lists data other than the API"
    for stray in ("API", "Any", "annotations"):
        assert not re.search(rf"^    {stray}\b", text, flags=re.M), f"help(nas) lists {stray}"


def test_docstrings_name_the_api_as_it_is() -> None:
    for text in (nas.__doc__ or "", (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")):
        assert "nas.search_jobs`" not in text and "nas.search_jobs," not in text
        assert "nas.search(" in text or "`nas.search`" in text


def test_import_nas_stays_light() -> None:
    code = "import sys, nas; print('torch' in sys.modules, 'nas.api' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["False", "False"]
