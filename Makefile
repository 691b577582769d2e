# The two commands a newcomer types are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pip byte-compiles what it installs: that doubles the install, but where PYTHONDONTWRITEBYTECODE is set (as on CI
# machines here) it is the only compile the modules get, and skipping it doubled every start-up instead.
PIP_INSTALL := $(BIN)/python -m pip install --quiet

.PHONY: run test lint install clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Switchboard needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)

# The service alone (what `make run` needs) and the service with test and lint tools (what `make test` needs).
$(VENV)/.installed-run: $(BIN)/python pyproject.toml
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(PIP_INSTALL) -e '.[test]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-test

# Sync the config file's sources first (the bundled handbook by default); a failed sync must not stop the service.
run: $(VENV)/.installed-run
	$(BIN)/switchboard sync || echo "switchboard: some sources did not sync (see above); serving what the index has"
	$(BIN)/switchboard serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .switchboard .mypy_cache .ruff_cache
