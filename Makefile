# govsim: `make demo` sets up and runs the main job; `make test` sets up and runs all tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint bench clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the CPU wheel: a bare `torch` would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,dask,live]'
	touch $(STAMP)

# Which assumptions could flip sudo against constitutional (the scenario's [sensitivity] ranges,
# 36 runs), then the frontier of all 12 designs (60 runs), whose report shows both.
# Each run replaces the demo's previous output (no "*.replaced-*" copies pile up).
demo: $(STAMP)
	rm -rf out/governance_frontier out/governance_frontier-sensitivity
	$(VENV)/bin/govsim sensitivity scenarios/governance_frontier.toml --policies sudo,constitutional --seeds 2 --entropy 2026 --no-report --out out/governance_frontier-sensitivity
	$(VENV)/bin/govsim compare scenarios/governance_frontier.toml --policies all --seeds 5 --entropy 2026 --sensitivity out/governance_frontier-sensitivity --out out/governance_frontier

# Debian's chromium for the Playwright tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: chromium not installed; e2e tests will be skipped"; }

# One pytest worker per core (pytest-xdist; PYTEST_XDIST_AUTO_NUM_WORKERS=N overrides the count).
test: $(STAMP) browser
	$(PY) -m ruff check .
	$(PY) -m pytest -n auto

test-fast: $(STAMP)
	$(PY) -m pytest -n auto -m 'not e2e and not slow' -x -q

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out runs studies test-artifacts
