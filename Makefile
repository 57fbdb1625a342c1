# make run   - set up and serve the site on http://127.0.0.1:8000 (one daphne, in-memory layer unless REDIS_URL)
# make test  - set up and run everything CI runs: lint, types, the test suite on SQLite and PostgreSQL
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint typecheck jstest pytest-sqlite pytest-postgres e2e services clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python -m chat.serve -b 127.0.0.1 -p $(PORT) chatsite.asgi:application

services:
	.ci/services

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	DJANGO_SECRET_KEY=typecheck $(BIN)/mypy

pytest-sqlite: $(VENV)/.dev
	env -u DATABASE_URL $(BIN)/pytest

# The suite again on PostgreSQL, minus the browser tests: they exercise the page, not the database.
pytest-postgres: $(VENV)/.dev
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -m "not e2e"

# The page's client logic, with Node's own test runner (no npm packages).
jstest:
	node --test tests/js/

e2e: $(VENV)/.dev
	$(BIN)/pytest tests/e2e

test: services lint typecheck jstest pytest-sqlite pytest-postgres

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
