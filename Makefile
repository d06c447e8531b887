# merkit — one-command setup. `make reproduce` and `make test` create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.merkit-installed
PROFILE ?= quick
export PROFILE

# Slurm (merkit.cluster): `make reproduce EXECUTOR=slurm SLURM_PARTITION=gpu SLURM_GPUS=1 ...`.
# The make variables EXECUTOR, SLURM_PARTITION, SLURM_GPUS, SLURM_CPUS, SLURM_MEM_GB,
# SLURM_TIME_MIN, SLURM_ACCOUNT, SLURM_QOS, SLURM_EXTRA ("constraint=a100,exclusive="),
# SLURM_RETRIES become MERKIT_EXECUTOR / MERKIT_SLURM_* for the commands, and the SLURM_* names
# themselves are not exported: Slurm sets SLURM_* variables inside jobs (SLURM_GPUS,
# SLURM_CPUS_PER_TASK, ...) and srun reads some as input (SLURM_PARTITION, SLURM_ACCOUNT,
# SLURM_QOS). So the SLURM_* ones are taken from the make command line only (and not passed on),
# never from the environment (inside a job they are Slurm's); set MERKIT_SLURM_* there instead.
SLURM_SETTINGS := PARTITION GPUS CPUS MEM_GB TIME_MIN ACCOUNT QOS EXTRA RETRIES
ifneq ($(strip $(EXECUTOR)),)
export MERKIT_EXECUTOR := $(EXECUTOR)
endif
$(foreach v,$(SLURM_SETTINGS),$(if $(filter command line,$(origin SLURM_$(v))),$(eval export MERKIT_SLURM_$(v) := $$(SLURM_$(v)))$(eval unexport SLURM_$(v))))
unexport EXECUTOR

.PHONY: help venv reproduce test lint lab data bench plan nbdime clean-build clean-reports slurm-up slurm-down status

help:
	@echo "make reproduce   # set up .venv, run every notebook (PROFILE=$(PROFILE)), write reports/*.html"
	@echo "                 # ONLY=\"01 03\": just those notebooks; EXECUTOR=slurm SLURM_PARTITION=...: on Slurm"
	@echo "make test        # set up .venv, run ruff + import-linter + pytest (notebooks in the smoke profile)"
	@echo "make lab         # JupyterLab on notebooks/"
	@echo "make data        # build the embedded synthetic data set (data/synthetic)"
	@echo "make bench       # benchmarks with ratios against the obvious alternative"
	@echo "make plan        # runs, flow pairs and estimated hours per notebook (PLAN_PROFILE=$(PLAN_PROFILE); THROUGHPUT=<GPU bench file> adds a column)"
	@echo "make nbdime      # enable nbdime git diff/merge drivers for this repo"
	@echo "make status      # per table: runs done, running, pending, failed (run store + squeue)"
	@echo "make slurm-up    # (root, Debian) install + start a one-node Slurm cluster (scripts/slurm-up.sh)"
	@echo "make slurm-down  # (root) stop the daemons slurm-up started (scripts/slurm-down.sh)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<81" wheel
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps face-recognition==1.3.0
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name merkit --display-name "merkit (.venv)" >/dev/null
	touch $(STAMP)

reproduce: $(STAMP)
	$(PY) -m merkit.run --profile $(PROFILE)$(if $(ONLY), --only $(ONLY))

test: $(STAMP)
	$(PY) -m ruff check merkit tests notebooks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check merkit tests notebooks
	$(VENV)/bin/lint-imports

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

data: $(STAMP)
	$(PY) -m merkit.data --scale $(if $(filter smoke,$(PROFILE)),smoke,full)

bench: $(STAMP)
	$(PY) -m merkit.bench all

PLAN_PROFILE ?= paper
plan: $(STAMP)
	$(PY) -m merkit.reproduce --profile $(PLAN_PROFILE) --plan $(if $(THROUGHPUT),--throughput $(THROUGHPUT))

nbdime: $(STAMP)
	$(VENV)/bin/nbdime config-git --enable
	$(VENV)/bin/nbstripout --install --attributes .gitattributes

clean-build:
	rm -rf build

clean-reports:
	find reports -mindepth 1 ! -name README.md -delete

status: $(STAMP)
	$(PY) -m merkit.experiments status

slurm-up:
	bash scripts/slurm-up.sh

slurm-down:
	bash scripts/slurm-down.sh
