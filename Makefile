# make run   - set up and serve the site on http://127.0.0.1:8000 (one daphne, in-memory layer unless REDIS_URL)
# make test  - set up and run everything CI runs: lint, types, the test suite on SQLite and PostgreSQL
# make cluster      - nginx on http://127.0.0.1:8080 in front of 3 daphne workers under supervisor (deploy/cluster up)
# make cluster-down - stop all of it (deploy/cluster down)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run test lint typecheck jstest pytest-sqlite pytest-postgres pytest-layers e2e services clean

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

# axe-core for the browser suite's accessibility checks (tests/e2e/package-lock.json pins it). npm
# extracts files with the tarball's old mtime: the touch keeps this from re-running every time.
tests/e2e/node_modules/axe-core/axe.min.js: tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund
	touch $@

pytest-sqlite: $(VENV)/.dev tests/e2e/node_modules/axe-core/axe.min.js
	env -u DATABASE_URL $(BIN)/pytest

# The suite again on PostgreSQL, minus the browser tests (they exercise the page, not the database)
# and the modules marked database_agnostic (the protocol, Redis, daphne).
pytest-postgres: $(VENV)/.dev
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -m "not e2e and not database_agnostic"

# The page's client logic, with Node's own test runner (no npm packages).
jstest:
	node --test tests/js/

e2e: $(VENV)/.dev tests/e2e/node_modules/axe-core/axe.min.js
	$(BIN)/pytest tests/e2e

# The consumer on the other layers and without daphne's internals (docs/deployment.md, "Channel layers"):
# cross-worker delivery, resume after a SIGKILL and presence on channels-redis's pub/sub layer; the
# consumer tests on Channels' own in-memory layer; real workers again through plain ASGI send (the
# consumer tests need no second run for that: without daphne they always send through ASGI).
LAYER_TESTS := tests/integration/test_delivery.py tests/integration/test_fanout.py \
	tests/integration/test_faults.py::test_killing_a_worker_loses_no_message_and_doubles_none \
	tests/integration/test_faults.py::test_users_of_a_killed_worker_leave_the_room_within_ttl_and_two_heartbeats
pytest-layers: $(VENV)/.dev
	env -u DATABASE_URL CHAT_TEST_CHANNEL_LAYER=pubsub $(BIN)/pytest $(LAYER_TESTS)
	env -u DATABASE_URL CHAT_CHANNEL_LAYER=memory CHAT_AUTH_MIDDLEWARE=channels $(BIN)/pytest tests/consumers
	env -u DATABASE_URL CHAT_DIRECT_TRANSPORT=0 CHAT_AUTH_MIDDLEWARE=channels $(BIN)/pytest tests/integration/test_delivery.py \
		tests/integration/test_fanout.py tests/integration/test_faults.py tests/integration/test_hostile_input.py

test: services lint typecheck jstest pytest-sqlite pytest-postgres pytest-layers

.PHONY: cluster cluster-down

# The whole site on this machine: nginx, CHAT_WORKERS workers (3), the local Redis and PostgreSQL.
cluster: $(VENV)/.runtime
	deploy/cluster up

cluster-down:
	deploy/cluster down

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
