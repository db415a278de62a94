# One command to run the service, one to run the tests (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint bench bench-tools clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/flask --app locator init-db
	$(VENV)/bin/flask --app locator run --host $(HOST) --port $(PORT)

# axe-core (pinned in tests/js/package-lock.json) for the browser tests' accessibility scans.
tests/js/node_modules/.package-lock.json: tests/js/package-lock.json
	npm ci --no-audit --no-fund --prefix tests/js

# Lighthouse (pinned in bench/js/package-lock.json) for bench/lighthouse.py.
bench-tools:
	npm ci --no-audit --no-fund --prefix bench/js

test: $(VENV)/.installed-test tests/js/node_modules/.package-lock.json
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n auto --maxprocesses=4 --dist loadfile $(PYTEST_ARGS)

bench: $(VENV)/.installed-test bench-tools
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache test-artifacts tests/js/node_modules bench/js/node_modules
