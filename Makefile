# Two commands do everything on a fresh machine:
#   make demo   - create .venv if missing, install, run a quick zero-shot NAS-Bench-201 search on real CIFAR-10
#                 images, export its genotype and print the cell's true accuracy and rank from the table
#   make test   - create .venv if missing, install, lint, run the test suite
#   make docs   - draw the results plots (benchmarks/plot_results.py) and build the site into site/
#                 (MKDOCS_FLAGS=--strict turns warnings into errors, as .ci/run does)
# The data directory defaults to ../shared/data when present; set NAS_DATA_DIR to use another.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SHARED_DATA := $(abspath ../shared/data)
export NAS_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(abspath data))
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test lint docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,export,postgres,nb201,docs]'
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(BIN)/nas search --config experiments/zero_shot_nb201.yaml --out runs/demo_nb201
	$(BIN)/nas show runs/demo_nb201

lint: setup
	$(BIN)/ruff check nas search_spaces tests benchmarks
	$(BIN)/ruff format --check nas search_spaces tests benchmarks

test: lint
	$(BIN)/python -m pytest -q

docs: setup
	$(BIN)/python benchmarks/plot_results.py
	$(BIN)/mkdocs build $(MKDOCS_FLAGS)

clean:
	rm -rf runs site docs/img .pytest_cache .ruff_cache
