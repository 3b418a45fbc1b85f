# A newcomer's commands: `make demo` (the whole job on the lab) and `make test` (the project's own tests).
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
LAB_INVENTORY := .lab/inventory.yaml

.PHONY: help setup lint static selftest test demo lab lab-down bench phase1 phase2 phase3 phase4 report clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v python3 >/dev/null || { apt-get update && apt-get install -y python3 python3-venv; }
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e . --group dev  # the dev tools and conformance clients: pyproject.toml
	touch $@

setup: $(VENV)/.installed ## create the virtual environment with the project and its tools

lint: setup ## ruff, and mypy: homelab and bootstrap (strict, pyproject.toml), the lab, then each stand-in
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy lab
	@# one run per stand-in: each has a standin.py, and its bare imports must resolve in its own directory
	@for dir in lab/standins/*/; do ls $$dir*.py >/dev/null 2>&1 || continue; echo "mypy $$dir"; \
	  MYPYPATH=$$dir:lab/standins/common $(BIN)/mypy $$dir*.py || exit 1; done

static: setup ## the specs that need no host: stacks and inventory
	$(BIN)/pytest -m static

selftest: setup ## the project's own tests that need no lab
	$(BIN)/pytest selftests -m "not lab"

test: setup lint ## the project's own tests, the lab included
	$(BIN)/pytest -m static --no-reports -q
	bash scripts/ensure-host-packages.sh
	bash lab/scripts/ensure-docker.sh
	PYTEST=$(BIN)/pytest bash scripts/selftests.sh  # the lab's and the rest at once; the slowest tests in the log

lab: setup ## install and start Docker if needed, then bring the lab up
	@start=$$(date +%s); bash lab/scripts/ensure-docker.sh && $(BIN)/lab up && \
		echo "== lab up: $$(( $$(date +%s) - start )) s"

lab-down: setup ## remove everything the lab made
	$(BIN)/lab down

# Exit 7 (only waived or skipped checks, e.g. a gaming PC that is off) is a pass for the demo; see docs/audit.md.
demo: lab ## bring the lab up, roll out every phase, and run the compliance suite against it
	@echo "Report (when the run ends): reports/report.html"
	@for phase in $$($(PY) -c 'from bootstrap.__main__ import PHASES; print(*PHASES)'); do \
		start=$$(date +%s); echo "== bootstrap $$phase"; \
		$(PY) -m bootstrap $$phase --inventory $(LAB_INVENTORY) || exit 1; \
		echo "== bootstrap $$phase: $$(( $$(date +%s) - start )) s"; done
	@start=$$(date +%s); $(BIN)/pytest --inventory $(LAB_INVENTORY); rc=$$?; \
		echo "== compliance suite: $$(( $$(date +%s) - start )) s (exit $$rc)"; [ $$rc -eq 0 ] || [ $$rc -eq 7 ]
	@echo "Report: reports/report.html"

bench: lab ## measure the lab: the suite at 1x, 2x, 4x and its baseline, a fresh and a no-op bootstrap; writes docs/performance.md
	$(PY) scripts/bench.py

phase1 phase2 phase3 phase4: setup ## check one rollout phase against inventory.yaml
	$(BIN)/pytest -m $@

report: setup ## screenshot reports/report.html into docs/images/report.png (headless Chromium)
	bash scripts/report-screenshot.sh

clean: ## remove generated reports (the history in reports/history/ stays)
	rm -rf reports/*.html reports/*.xml reports/results.json reports/compliance.prom
