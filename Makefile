# Two commands for a fresh machine: `make dev` runs the platform, `make test` runs the whole test suite.
# Each creates the virtual environment (.venv) itself on first use, with Python 3.11, 3.12 or 3.13:
# `make dev PYTHON=python3.12` takes another interpreter than `python3` (the venv keeps it; `make clean` to change).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null || { \
		echo "BizOSaaS needs Python 3.11, 3.12 or 3.13; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
		     "Run e.g. 'make dev PYTHON=python3.12'."; exit 1; }
	$(PYTHON) -m venv $(VENV)
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
