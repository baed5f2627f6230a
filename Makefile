# Run `make help` for the targets.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: help setup run test test-sqlite test-pg lint check-flows call clean bench bench-webhooks bench-million bench-profile wrk

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(BIN)/activate

setup: $(BIN)/activate ## Create the venv and the SQLite schema (and a demo roster when empty)
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi staff import demo/roster.yaml --if-empty

run: setup ## Set up and run the service on SQLite (port $(PORT))
	@$(BIN)/python -m ivr.banner $(PORT)
	$(BIN)/gunicorn --worker-class gthread --workers 2 --threads 4 --bind 127.0.0.1:$(PORT) --timeout 30 --access-logfile - wsgi:app

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

wrk:
	@command -v wrk >/dev/null || { echo "wrk is missing: installing it with apt-get (Debian's package)"; \
		apt-get update -qq && apt-get install -y -qq wrk; }

bench: $(BIN)/activate wrk ## Benchmarks: webhooks vs bare Flask, then the call log at 1,000,000 calls (docs/benchmarks.md)
	$(BIN)/python -m bench all $(BENCH_ARGS)

bench-webhooks: $(BIN)/activate wrk ## Only the webhook benchmark (about 4 minutes)
	$(BIN)/python -m bench webhooks $(BENCH_ARGS)

bench-million: $(BIN)/activate ## Only the million-call log: generate once, then time pages, lookups and the CSV export
	$(BIN)/python -m bench million $(BENCH_ARGS)

bench-profile: $(BIN)/activate ## Profile whole calls in-process with pyinstrument (bench/requirements.txt)
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

clean: ## Remove the venv and caches (keeps instance/ and recordings/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
