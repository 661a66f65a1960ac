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

.PHONY: install demo test lint format serve clean browser-deps java-deps translations

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev,service,spark]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash training/demo.sh $(DEMO_DIR)

# Two test processes, one per core; a file's tests stay on one process (they share its
# module fixtures: trained models, servers). `TEST_PROCESSES=0` runs them in this one.
TEST_PROCESSES ?= 2
test: $(STAMP) java-deps
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests training service benchmarks
	$(BIN)/ruff format --check src tests training service benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests training service benchmarks
	$(BIN)/ruff check --fix src tests training service benchmarks

# The message catalogues (src/leadmodel/i18n.py): extract every marked text into the
# template, merge it into each language's .po (translate the new entries there), compile.
LOCALE := src/leadmodel/locale
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k pgettext:1c,2 --no-location --sort-output \
		--project leadmodel --omit-header -o $(LOCALE)/leadmodel.pot src/leadmodel
	$(BIN)/pybabel -q update -i $(LOCALE)/leadmodel.pot -d $(LOCALE) -D leadmodel \
		--no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel -q compile -d $(LOCALE) -D leadmodel --statistics

# The scoring API (docs/service.md): make serve [MODEL=models:/lead-scorer/3] [PORT=3000]
serve: $(STAMP)
	$(BIN)/leadmodel serve --port $(or $(PORT),3000) $(if $(MODEL),--model $(MODEL))

# Debian's headless Chromium for the report's browser test (CI runs as root).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Debian's Java for the Spark test (PySpark 4 needs Java 17+; CI runs as root).
java-deps:
	command -v java >/dev/null || (apt-get update -qq && apt-get install -y -qq default-jre-headless)

clean:
	rm -rf $(VENV) out mlflow.db predictions mlruns mlartifacts .pytest_cache
