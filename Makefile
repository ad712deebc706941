# genreport: `make report` sets up and writes out/report.{html,pdf}; `make test` sets up and tests.
# Pass options to the full run with ARGS, e.g. `make report ARGS="--preset smoke"`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := dataset-fashion-mnist poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core python3-venv

.PHONY: setup system-deps report test render benchmark check-html clean

setup: system-deps $(BIN)/genreport

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

$(BIN)/genreport: setup.cfg pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/genreport

report: setup
	$(BIN)/genreport full $(ARGS)

# Two pytest-xdist workers (the tests that read the shared smoke run stay on one of them), and the
# 15 slowest durations at the end, so the suite's time stays in view.
PYTEST_ARGS ?= -n 2 --dist loadgroup --durations=15
test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS) $(ARGS)

render: setup
	$(BIN)/genreport render --results out/results

# Opens the report in headless Chromium (installed when missing): a screenshot beside it, and a
# failure when an image did not load or the console logged an error. Not part of `make test`.
check-html: setup
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	$(BIN)/python -m genreport.report.check_html $(or $(REPORT),out/report.html)

benchmark: setup
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
