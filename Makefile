# merkit — one-command setup. `make reproduce` and `make test` create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.merkit-installed
PROFILE ?= quick
export PROFILE

.PHONY: help venv reproduce test lint lab data bench plan nbdime clean-build clean-reports

help:
	@echo "make reproduce   # set up .venv, run every notebook (PROFILE=$(PROFILE)), write reports/*.html"
	@echo "make test        # set up .venv, run ruff + import-linter + pytest (notebooks in the smoke profile)"
	@echo "make lab         # JupyterLab on notebooks/"
	@echo "make data        # build the embedded synthetic data set (data/synthetic)"
	@echo "make bench       # benchmarks with ratios against the obvious alternative"
	@echo "make plan        # runs, flow pairs and estimated hours per notebook (PLAN_PROFILE=$(PLAN_PROFILE); THROUGHPUT=<GPU bench file> adds a column)"
	@echo "make nbdime      # enable nbdime git diff/merge drivers for this repo"

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
	$(PY) -m merkit.run --profile $(PROFILE)

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
