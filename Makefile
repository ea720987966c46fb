# Two commands for a fresh machine: `make dev` runs the platform, `make test` runs the whole test suite.
# Each creates the virtual environment (.venv) itself on first use.

VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

dev: $(VENV)/.installed
	$(PY) -m bizosaas dev

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/pipeline.py --quick

clean:
	rm -rf $(VENV) .bizosaas .pytest_cache
