# conceptlens: set-up, demo, tests.  `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian/Ubuntu packages (README, "System packages"). The demo's: WordNet 3.0 (the world_1k
# and world_wordnet concept sets), Pango and HarfBuzz's subsetter (weasyprint: report.pdf).
APT_DEMO := wordnet-base libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
# Only the tests': pdftotext (the PDF text checks), headless Chromium (the explorer's browser
# test and benchmark) and a single-node SLURM (tests/test_cluster.py, skipped without it).
APT_TEST := poppler-utils chromium munge slurmctld slurmd slurm-client
STAMP := $(VENV)/.installed

.PHONY: setup apt apt-test demo test test-fast test-cluster lint format world-models benchmarks benchmark-tiny benchmark-demo benchmark-training clean

setup: apt $(STAMP)

# $(call apt_install,PACKAGES,WHAT THEY ARE FOR): install the missing ones as root or with
# password-less sudo (`sudo -n true`); without either (an HPC login node), or where apt-get
# fails, say what to install and how, and go on without them.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "conceptlens: not a Debian/Ubuntu system: install the equivalents of$$missing ($(2)) yourself; continuing without them"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else \
	  echo "conceptlens: missing system packages ($(2)):$$missing"; \
	  echo "  installing them needs root or password-less sudo; ask an administrator for:"; \
	  echo "  sudo apt-get install -y$$missing"; \
	  echo "  continuing without them (README, System packages: what each is for)"; exit 0; fi; \
	echo "installing apt packages ($(2)):$$missing"; \
	if ! { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }; then \
	  echo "conceptlens: apt-get could not install$$missing ($(2)); continuing without them"; fi
endef

# The system packages of the demo (make demo, make setup).
apt:
	$(call apt_install,$(APT_DEMO),the demo: WordNet and the PDF report)

# The system packages of the tests only (make test, make test-cluster).
apt-test: apt
	$(call apt_install,$(APT_TEST),the tests: pdftotext; Chromium; SLURM)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: these releases are the ones available offline on x86_64 here.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/snakemake --cores all

test: setup apt-test
	$(BIN)/snakemake --lint
	$(BIN)/python -m pytest -q -ra

# The SLURM tests alone: the profile's dry run and the tiny world through a single-node
# SLURM on this machine (needs root; skipped, with the reason, where SLURM is missing).
test-cluster: setup apt-test
	$(BIN)/python -m pytest -q -ra tests/test_cluster.py

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
