# One set of targets for people and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run test lint typecheck format bench clean

$(BIN)/abonent: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/abonent

install: $(BIN)/abonent ## Create .venv and install Abonent with its development tools.

run: install ## Migrate the local SQLite database, load demo data and serve.
	$(BIN)/abonent db upgrade
	$(BIN)/abonent demo
	$(BIN)/abonent serve --host $(HOST) --port $(PORT)

lint: install ## ruff (lint and format check) and mypy strict.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint ## Lint, then the whole suite on SQLite and (when installed) PostgreSQL.
	scripts/with-postgres.sh $(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: install
	$(BIN)/abonent bench ledger

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
