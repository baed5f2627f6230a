# Run `make help` for the targets.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: help setup run test test-sqlite test-pg lint check-flows call clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

setup: $(BIN)/activate ## Create the venv and the SQLite schema
	$(BIN)/flask --app wsgi db upgrade

run: setup ## Set up and run the service on SQLite (port $(PORT))
	@$(BIN)/python -m ivr.banner $(PORT)
	$(BIN)/gunicorn --workers 2 --bind 127.0.0.1:$(PORT) --timeout 15 --access-logfile - wsgi:app

test: test-sqlite ## Set up and run the tests (SQLite; `make test-pg` for PostgreSQL)

test-sqlite: $(BIN)/activate
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg: $(BIN)/activate ## Run the tests against PostgreSQL on 127.0.0.1:5432
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/activate ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-flows: $(BIN)/activate ## Check flows/ without starting the service
	$(BIN)/flask --app wsgi flows check

call: setup ## Play a test call in the terminal: make call KEYS=2 AT="2026-12-01 10:00"
	$(BIN)/flask --app wsgi call --keys "$(or $(KEYS),2)" $(if $(AT),--at "$(AT)")

clean: ## Remove the venv and caches (keeps instance/ and recordings/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
