# p2p-race: every set-up step lives here, so a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
ARGS   ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` and `make test-fast`: one more than the cores, since
# a third of the suite's time is spent waiting on real processes and real time (measured:
# 2 cores, 2 workers 316 s, 3 workers 225 s). Work stealing keeps them evenly busy: with
# xdist's default `load`, one worker was left with twice the other's share (422 s).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
TEST_DIST ?= worksteal
# PYTHONDONTWRITEBYTECODE= (empty: unset) lets the test processes cache bytecode: hundreds of
# peer and CLI processes otherwise recompile the project on every start.
TEST_ENV := SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy PYTHONDONTWRITEBYTECODE=
# install-user: where the private venv and the `p2p-race` link go when pipx is missing
USER_VENV ?= $(HOME)/.local/share/p2p-race/venv
USER_BIN  ?= $(HOME)/.local/bin

.PHONY: run install install-dev install-user uninstall-user dist test test-fast test-stress test-mongo bench lint sysdeps clean

run: install
	$(VENV)/bin/p2p-race $(ARGS)

# A player's set-up: the runtime requirements only (the test and lint tools come with
# `install-dev`, which `make test` / `make lint` / `make bench` use).
install: $(STAMP)

install-dev: $(DEV_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file or pyproject.toml changed since the last install.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(PIP) install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

# `p2p-race` on your PATH, outside this checkout: with pipx when it is there, else in a
# private venv linked from ~/.local/bin (the same thing pipx does).
install-user:
	@if command -v pipx >/dev/null 2>&1; then \
	  pipx install --force . ; \
	else \
	  $(PYTHON) -m venv "$(USER_VENV)" && \
	  "$(USER_VENV)/bin/python" -m pip --disable-pip-version-check install -q --upgrade . && \
	  mkdir -p "$(USER_BIN)" && ln -sf "$(USER_VENV)/bin/p2p-race" "$(USER_BIN)/p2p-race" && \
	  echo "installed $(USER_BIN)/p2p-race" && \
	  case ":$$PATH:" in *":$(USER_BIN):"*) ;; \
	    *) echo "note: $(USER_BIN) is not on your PATH; add it (e.g. in ~/.profile)";; esac; \
	fi

uninstall-user:
	@if command -v pipx >/dev/null 2>&1 && pipx list --short 2>/dev/null | grep -q '^p2p-race '; then \
	  pipx uninstall p2p-race; \
	else rm -rf "$(USER_VENV)" && rm -f "$(USER_BIN)/p2p-race" && echo "removed $(USER_BIN)/p2p-race"; fi

# The wheel and the sdist in dist/ (`python -m build`).
dist: install-dev
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .

# Debian packages the multi-host tests need (network namespaces come from iproute2).
sysdeps:
	@if ! command -v ip >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2; \
	  else echo "note: iproute2 missing and not root: LAN test-host tests will skip"; fi; \
	fi

# Every test, spread over the cores. pytest exits 5 when it collected nothing: make fails then too.
test: install-dev sysdeps
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist $(TEST_DIST) $(PYTEST_ARGS)

# Cores, simulators, codec, UI: no real processes (`lan`) and no long runs (`slow`).
test-fast: install-dev
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist $(TEST_DIST) -m "not lan and not slow" $(PYTEST_ARGS)

# `make test` while two busy processes starve both cores (RUNS=5 for five runs in a row).
test-stress: install-dev sysdeps
	RUNS=$(or $(RUNS),1) scripts/stress.sh

# The MongoDB suite against a real replica set: MONGODB_URI=mongodb://h1,h2,h3/?replicaSet=rs make test-mongo
test-mongo: install-dev
	P2P_RACE_TEST_MONGODB_URI="$(MONGODB_URI)" $(PY) -m pytest tests -k mongo $(PYTEST_ARGS)

bench: install-dev sysdeps
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(PY) -m bench.run $(ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
