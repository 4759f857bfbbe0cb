# CX Hub — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= small

.PHONY: install run test lint format bench bench-ingest bench-load lock worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

## install: create .venv and install the pinned dependencies
install: $(VENV)/.installed

## run: set up the laptop install (SQLite, eager tasks), load demo data and serve on http://$(HOST):$(PORT)/
run: install
	$(MANAGE) migrate --noinput
	$(MANAGE) seed_demo
	$(MANAGE) ensure_admin --url http://$(HOST):$(PORT)/
	$(MANAGE) runserver $(HOST):$(PORT)

## test: lint and run the test suite (honours DATABASE_URL and CELERY_BROKER_URL)
test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: run the benchmarks against PostgreSQL (SCALE=small|large), write bench/results.json
bench: install
	$(MANAGE) bench --scale $(SCALE)

## bench-ingest: ingest over HTTP (gunicorn, 3 concurrent clients) vs raw COPY, same run
bench-ingest: install
	$(MANAGE) bench --scale $(SCALE) --only ingest_http

## bench-load: 50 agents (360 page, search) while ingest runs at 5,000 rows/s over HTTP (locust; needs Redis)
bench-load: install
	$(MANAGE) bench --scale $(SCALE) --only load_agents

## worker / beat: background processes for a PostgreSQL + Redis install (QUEUES=dirty,segments to pick queues;
## the worker runs at NICE=10 so that, beside the web server, agents' pages get the CPU first)
QUEUES ?= default,ingest,realtime,dirty,segments,journeys,outbound,models
NICE ?= 10
worker: install
	nice -n $(NICE) $(BIN)/celery -A cxhub worker --loglevel=info -Q $(QUEUES)

beat: install
	$(BIN)/celery -A cxhub beat --loglevel=info --scheduler cxhub.beat:SingleBeatScheduler

## lock: re-pin every dependency after changing pyproject.toml
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	( echo "# Pinned dependencies for CX Hub (runtime, test and tooling). Regenerate with: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable ) > requirements.lock

clean:
	rm -rf $(VENV) staticfiles
