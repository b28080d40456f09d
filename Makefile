# Everything a newcomer needs: `make demo` and `make test` set up the virtual environment themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
EVAL_PIPELINES_HOME ?= $(CURDIR)/.eval_pipelines_home
DAGSTER_HOME ?= $(EVAL_PIPELINES_HOME)/dagster
export EVAL_PIPELINES_HOME DAGSTER_HOME
# No usage statistics from Dagster, Great Expectations or Evidently.
export DAGSTER_DISABLE_TELEMETRY := 1
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1
# MkDocs Material's notice about its successor, printed on every build.
export NO_MKDOCS_2_WARNING := 1

.PHONY: install system-packages demo test e2e screenshots ui dashboard docs bench lint clean-home

$(BIN)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/.compiled

# The ingestion hot path is compiled in place (setup.py): compiled again whenever a parsing or convention module
# changes.
$(BIN)/.compiled: $(wildcard eval_pipelines/parsing/*.py eval_pipelines/conventions/*.py) | $(BIN)/.installed
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed $(BIN)/.compiled

# Debian packages the end-to-end tests drive: PostgreSQL (instance storage of the scale-out test) and
# Chromium (the browser test; Playwright never downloads a browser of its own).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing Debian packages:$$missing"; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/eval-pipelines demo

# Three workers on two cores: the end-to-end modules spend most of their time waiting on servers and on real time.
test: install system-packages
	$(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder

# Only the end-to-end tests (also part of `make test`): dagster dev on PostgreSQL, a backfill through GraphQL,
# the UI in headless Chromium.
e2e: install system-packages
	$(BIN)/pytest -m e2e eval_pipelines_tests/e2e

# The browser test's screenshots of the UI, into the folder the README and the site show them from.
screenshots: install system-packages
	EVAL_PIPELINES_SCREENSHOTS=$(CURDIR)/docs/images $(BIN)/pytest -m e2e eval_pipelines_tests/e2e/test_end_to_end.py \
		-k test_the_ui_shows_the_assets_plots_and_drift_report

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/eval-pipelines ui --port 3000

# The Evidently workspace the assets push to; DO_NOT_TRACK=1 (exported above) keeps its UI from phoning home.
dashboard: install
	mkdir -p $(EVAL_PIPELINES_HOME)/evidently
	$(BIN)/evidently ui --workspace $(EVAL_PIPELINES_HOME)/evidently --host 127.0.0.1 --port 8002

# The documentation site, its reference pages generated from the code, on http://127.0.0.1:8000.
docs: install
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

bench: install
	$(BIN)/python bench/ingestion_throughput.py
	$(BIN)/python bench/scoring_throughput.py --repeats 5
	$(BIN)/python bench/judge_throughput.py
	$(BIN)/python bench/pipeline_load.py

lint: install
	$(BIN)/ruff check eval_pipelines eval_pipelines_tests bench docs/hooks

clean-home:
	rm -rf $(EVAL_PIPELINES_HOME)
