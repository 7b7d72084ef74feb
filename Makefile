# The two commands of the README's quick start, and the checks CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## seed the demo study mission and serve it on http://127.0.0.1:8000
	$(BIN)/studymission demo

test: $(STAMP)  ## the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)  ## formatting, lint and types
	$(BIN)/ruff format --check server tests bench
	$(BIN)/ruff check server tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format server tests bench
	$(BIN)/ruff check --fix server tests bench

bench: $(STAMP)  ## the benchmarks of bench/ (results in bench/README.md)
	$(BIN)/python bench/bench_programme.py
	$(BIN)/python bench/bench_realtime.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_stage.py
	$(BIN)/python bench/bench_breakouts.py
	$(BIN)/python bench/bench_breakouts_open.py
	$(BIN)/python bench/bench_media_package.py
	$(BIN)/python bench/bench_media_serving.py
	$(BIN)/python bench/bench_media_serving.py --paced
	$(BIN)/python bench/bench_certificates.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/e2e/artifacts
