# Two commands: `make run` (set up, build the demo warehouse on first use, serve)
# and `make test` (set up with test extras and system packages, run the suite).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5006
ADDRESS ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test bench install install-test system-deps kernel demo clean help

help:
	@echo "make run    - installe l'environnement, construit l'entrepôt de démonstration et sert l'application sur http://$(ADDRESS):$(PORT)"
	@echo "make test   - installe les dépendances de test (chromium, Java 17) et lance toute la suite"
	@echo "make bench  - mesures de performance (génération, indicateurs, tableaux de bord)"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 introuvable (variable PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml (the single source of pins) changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed kernel
install-test: $(VENV)/.installed-test kernel

# The notebook kernel lives inside the venv (sys-prefix), so nothing leaks into ~.
kernel: $(VENV)/share/jupyter/kernels/eds-workbench/kernel.json
$(VENV)/share/jupyter/kernels/eds-workbench/kernel.json: | $(BIN)/python
	$(BIN)/python -m ipykernel install --sys-prefix --name eds-workbench --display-name "EDS Workbench" >/dev/null

# Debian's Chromium for the browser tests, Java 17 for Spark, PostgreSQL's server binaries (initdb, pg_ctl)
# for tests/postgres. Never `playwright install`.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	java -version 2>&1 | grep -q 'version "17' || missing="$$missing openjdk-17-jre-headless"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "Installation des paquets Debian :$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install
	$(BIN)/workbench demo

run: install
	$(BIN)/workbench serve --port $(PORT) --address $(ADDRESS)

test: install-test system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-test system-deps
	$(BIN)/python benchmarks/generate.py
	$(BIN)/python benchmarks/indicators.py
	$(BIN)/python benchmarks/indicators.py --patients 100000 --spark
	$(BIN)/python benchmarks/nlp.py
	$(BIN)/python benchmarks/cohorts.py
	$(BIN)/python benchmarks/cohorts.py --patients 1000000 --without-text
	$(BIN)/python benchmarks/exports.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/fhir.py
	$(BIN)/python benchmarks/dashboard.py --as pilotage
	$(BIN)/python benchmarks/lattices.py --patients 20000
	$(BIN)/python benchmarks/quality.py

clean:
	rm -rf $(VENV) data site .workbench test-artifacts .pytest_cache
