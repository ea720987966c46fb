# Two commands for a fresh machine: `make dev` runs the platform, `make test` runs the whole test suite.
# Each creates the virtual environment (.venv) itself on first use, with Python 3.11, 3.12 or 3.13:
# `make dev PYTHON=python3.12` takes another interpreter than `python3` (the venv keeps it; `make clean` to change).
# Installs are pinned by constraints.txt (every package's exact version), made by `make lock`.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test bench lock clean

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 14))' 2>/dev/null || { \
		echo "BizOSaaS needs Python 3.11, 3.12 or 3.13; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." \
		     "Run e.g. 'make dev PYTHON=python3.12'."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

dev: $(VENV)/.installed
	$(PY) -m bizosaas dev

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/pipeline.py --quick

# Re-resolve every dependency within pyproject.toml's ranges, in a fresh venv of the oldest supported Python, and
# pin the result. Run it after changing a range in pyproject.toml; commit constraints.txt with that change.
lock:
	rm -rf .lock-venv build
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q '.[dev,bench]'
	{ echo "# Every package's exact version for 'pip install -c constraints.txt -e .[dev]' (make, .ci/run, Dockerfile)."; \
	  echo "# Made by 'make lock' with $$(.lock-venv/bin/python --version) on $$(uname -m); do not edit by hand."; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable | grep -v -i -E '^(bizosaas|pip|setuptools|wheel)( @|==)'; \
	} > constraints.txt
	rm -rf .lock-venv build

clean:
	rm -rf $(VENV) .bizosaas .pytest_cache
