# conceptlens: set-up, demo, tests.  `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := wordnet-base poppler-utils libharfbuzz-subset0 munge slurmctld slurmd slurm-client chromium
STAMP := $(VENV)/.installed

.PHONY: setup apt demo test test-fast lint format world-models benchmarks benchmark-tiny benchmark-demo benchmark-training clean

setup: apt $(STAMP)

# System packages the workflow uses (WordNet data, pdftotext), the single-node SLURM of
# tests/test_cluster.py (munge, slurmctld, slurmd, slurm-client) and the headless Chromium of
# the explorer's browser test and benchmark; installed when missing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: these releases are the ones available offline on x86_64 here.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/snakemake --cores all

test: setup
	$(BIN)/snakemake --lint
	$(BIN)/python -m pytest -q -ra

# The tests that take seconds, not minutes.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check conceptlens scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff check --fix conceptlens scripts tests benchmarks
	$(BIN)/snakefmt Snakefile rules

# Retrain the world's target and CLIP from scratch (same code and seeds) and publish the
# checkpoints, their training logs and measured accuracies to resources/world/.
world-models: setup
	$(BIN)/snakemake --cores 2 --configfile configs/retrain-world-models.yaml -- results/world-retrain/models/quality.json
	$(BIN)/python -m conceptlens.models.publish results/world-retrain/models resources/world

# Throughput of the image stages and scoring time at full size (minutes).
benchmarks: setup
	$(BIN)/python benchmarks/stages.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/stability.py
	$(BIN)/python benchmarks/convis.py
	@if [ -f results/world/report.pdf ]; then $(BIN)/python benchmarks/report.py; \
	else echo "benchmarks/report.py skipped: run make demo first (it renders results/world)"; fi

# The tiny world end to end: wall time, every job's start and length, the critical chain.
benchmark-tiny: setup
	$(BIN)/python benchmarks/tiny_world.py

# The demo end to end (default config): wall time against 4 minutes on 2 cores, the per-job
# timeline, the critical chain and the ConVis jobs' seconds.
benchmark-demo: setup
	$(BIN)/python benchmarks/demo.py

# Both world models from scratch (about 19 minutes on 2 cores; see the README).
benchmark-training: setup
	$(BIN)/python benchmarks/world_training.py

clean:
	rm -rf results .snakemake
