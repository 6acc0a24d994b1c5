# Two commands: `make demo` (the main job) and `make test` (the test suite), on the current lerobot line
# (lerobot 0.6, Python >= 3.12: on PATH, else pyenv's). `make test-044` runs the suite on lerobot 0.4.4
# (Python 3.10/3.11). Each sets up its venv first.
PY ?= $(shell .ci/find-python 3.12 3.13 || .ci/find-python 3.12)
PY_044 ?= $(shell .ci/find-python 3.11 3.12 || .ci/find-python 3.10 3.12)
PY_313 ?= $(shell .ci/find-python 3.13 3.14)
PY_MAIN ?= $(shell .ci/find-python 3.12 3.13 || .ci/find-python 3.12)
VENV := .venv
VENV_044 := .venv-044
VENV_313 := .venv-313
# lerobot main at 7427f31 (version 0.6.2, unreleased), installed from its vendored source
VENV_MAIN := .venv-main
LEROBOT_MAIN_NAME := lerobot-main-7427f31.tar.gz
LEROBOT_MAIN_SRC ?= $(firstword $(wildcard ../shared/vendor/$(LEROBOT_MAIN_NAME) /work/shared/vendor/$(LEROBOT_MAIN_NAME)))
# the tests' Hub-compatible server on loopback (olah, in its own venv: its pins are not lerobot's)
VENV_HUB := .venv-hub
BIN := $(VENV)/bin

.PHONY: install install-044 install-main hub-venv demo demo-044 test test-044 test-main test-slow test-vla smoke-313 lint fixtures-v21

# a venv of the project, its extras and the lerobot its Python selects (pyproject's markers)
define make_venv
	$(1) -m venv $(2)
	$(2)/bin/pip install -q --upgrade pip
	$(2)/bin/pip install -q -e ".[$(3)]"
	touch $(2)/.installed
endef

$(VENV)/.installed: pyproject.toml
	$(call make_venv,$(PY),$(VENV),dev)

$(VENV_044)/.installed: pyproject.toml
	$(call make_venv,$(PY_044),$(VENV_044),dev)

$(VENV_313)/.installed: pyproject.toml
	$(call make_venv,$(PY_313),$(VENV_313),test)

# lerobot from source, then the project without its lerobot pin (--no-deps) and its other requirements
$(VENV_MAIN)/.installed: pyproject.toml
	@test -n "$(LEROBOT_MAIN_SRC)" || { echo "lerobot main's source $(LEROBOT_MAIN_NAME) is not in ../shared/vendor/: set LEROBOT_MAIN_SRC=<path>" >&2; exit 1; }
	$(PY_MAIN) -m venv $(VENV_MAIN)
	$(VENV_MAIN)/bin/pip install -q --upgrade pip
	$(VENV_MAIN)/bin/pip install -q "$(abspath $(LEROBOT_MAIN_SRC))[dataset,training,diffusion,viz]"
	$(VENV_MAIN)/bin/pip install -q --no-deps -e .
	$(VENV_MAIN)/bin/python .ci/requirements dev > $(VENV_MAIN)/requirements.txt
	$(VENV_MAIN)/bin/pip install -q -r $(VENV_MAIN)/requirements.txt
	touch $@

$(VENV_HUB)/.installed:
	$(PY_044) -m venv $(VENV_HUB)
	$(VENV_HUB)/bin/pip install -q --upgrade pip
	$(VENV_HUB)/bin/pip install -q "olah==0.5.4"
	touch $(VENV_HUB)/.installed

hub-venv: $(VENV_HUB)/.installed

install: $(VENV)/.installed
install-044: $(VENV_044)/.installed
install-main: $(VENV_MAIN)/.installed

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 PYTHONHASHSEED=0 MUJOCO_GL=$${MUJOCO_GL:-egl} $(BIN)/lerobot-multi-demo

demo-044: $(VENV_044)/.installed
	HF_HUB_OFFLINE=1 PYTHONHASHSEED=0 MUJOCO_GL=$${MUJOCO_GL:-egl} $(VENV_044)/bin/lerobot-multi-demo

test: $(VENV)/.installed $(VENV_HUB)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-044: $(VENV_044)/.installed $(VENV_HUB)/.installed
	HF_HUB_OFFLINE=1 $(VENV_044)/bin/python -m pytest -q

# lerobot main (the next release, from source): the default suite
test-main: $(VENV_MAIN)/.installed $(VENV_HUB)/.installed
	HF_HUB_OFFLINE=1 $(VENV_MAIN)/bin/python -m pytest -q

test-slow: $(VENV)/.installed $(VENV_HUB)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow

# SmolVLA trained on the community recipe over the loopback hub (slow: ~1 min a line), on both lines;
# adds the `vla` extra (transformers) to the venvs first
$(VENV)/.vla: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,vla]"
	touch $@

$(VENV_044)/.vla: $(VENV_044)/.installed
	$(VENV_044)/bin/pip install -q -e ".[dev,vla]"
	touch $@

test-vla: $(VENV)/.vla $(VENV_044)/.vla $(VENV_HUB)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow tests/test_vla.py
	HF_HUB_OFFLINE=1 $(VENV_044)/bin/python -m pytest -q -m slow tests/test_vla.py

# Python 3.13: install, open a mixture, two training steps
smoke-313: $(VENV_313)/.installed
	HF_HUB_OFFLINE=1 $(VENV_313)/bin/python -m pytest -q -m slow tests/test_smoke.py

# the committed v2.1 test fixtures, rewritten by lerobot 0.3.3's own writer (format v2.1; torch < 2.8)
fixtures-v21:
	$(PY_044) -m venv .venv-033
	.venv-033/bin/pip install -q --upgrade pip
	.venv-033/bin/pip install -q "lerobot==0.3.3"
	HF_HUB_OFFLINE=1 .venv-033/bin/python tests/fixtures/make_v21_fixtures.py tests/fixtures/v21

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
