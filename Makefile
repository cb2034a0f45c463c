# p2p-race: every set-up step lives here, so a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
ARGS   ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` and `make test-fast` (auto: one per core).
TEST_WORKERS ?= auto
TEST_ENV := SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy

.PHONY: run install test test-fast test-stress test-mongo bench lint sysdeps clean

run: install
	$(VENV)/bin/p2p-race $(ARGS)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file or pyproject.toml changed since the last install.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

# Debian packages the multi-host tests need (network namespaces come from iproute2).
sysdeps:
	@if ! command -v ip >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2; \
	  else echo "note: iproute2 missing and not root: LAN test-host tests will skip"; fi; \
	fi

# Every test, spread over the cores. pytest exits 5 when it collected nothing: make fails then too.
test: install sysdeps
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Cores, simulators, codec, UI: no real processes (`lan`) and no long runs (`slow`).
test-fast: install
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) -m "not lan and not slow" $(PYTEST_ARGS)

# `make test` while two busy processes starve both cores (RUNS=5 for five runs in a row).
test-stress: install sysdeps
	RUNS=$(or $(RUNS),1) scripts/stress.sh

# The MongoDB suite against a real replica set: MONGODB_URI=mongodb://h1,h2,h3/?replicaSet=rs make test-mongo
test-mongo: install
	P2P_RACE_TEST_MONGODB_URI="$(MONGODB_URI)" $(PY) -m pytest tests -k mongo $(PYTEST_ARGS)

bench: install sysdeps
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(PY) -m bench.run $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
