# The two Quickstart commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: demo test lint typecheck check install lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every third-party package, the build backend included, comes from the lock with its hashes; consentry and its
# benchmarks are then installed editable on top without resolving anything.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml benchmarks/pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . -e ./benchmarks
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock after changing dependencies in pyproject.toml: keeps every pin it can, adds what is new.
# `make lock UPGRADE=--upgrade` moves everything to the newest allowed versions (`--upgrade-package NAME`: one).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" $(UPGRADE) -o $(LOCK)

demo: $(STAMP)
	$(BIN)/consentry demo

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: test lint typecheck

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
