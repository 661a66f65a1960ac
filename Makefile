# leadmodel: two commands for a fresh machine.
#   make demo   set up .venv and run the main job on embedded defaults
#   make test   set up .venv and run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= out/demo
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db

.PHONY: install demo test lint format serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev,service]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash training/demo.sh $(DEMO_DIR)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests training service benchmarks
	$(BIN)/ruff format --check src tests training service benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests training service benchmarks
	$(BIN)/ruff check --fix src tests training service benchmarks

clean:
	rm -rf $(VENV) out mlflow.db mlruns mlartifacts .pytest_cache
