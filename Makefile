# The two commands of the README:
#   make run   - set up, replay a weekday into the embedded DuckDB warehouse (and Parquet), show the dashboard
#   make test  - set up everything the tests need (Python deps, Chromium, Kafka jars) and run the whole suite
# Each creates its own virtual environment in .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
UV      = $(VENV)/bin/uv
SCENARIO ?= weekday
WAREHOUSE ?= duckdb://data/ats.duckdb

.PHONY: run test replay dashboard kafka lint typecheck bench system-deps kafka-jars clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.run-deps: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(PY) -e '.[duckdb,dashboard]'
	touch $@

$(VENV)/.dev-deps: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(PY) -e '.[dev]'
	touch $@

# A second environment with snowflake-connector-python 5.x: the test environment pins <5 for
# fakesnow, so the sink's 5.x compatibility is checked from here.
SF5 = $(VENV)-sf5
$(SF5)/.deps: pyproject.toml | $(UV)
	$(PYTHON) -m venv $(SF5)
	$(UV) pip install --quiet --python $(SF5)/bin/python -e . 'snowflake-connector-python>=5' 'cryptography>=42'
	touch $@

run: replay dashboard

replay: $(VENV)/.run-deps
	$(VENV)/bin/ats-sim run $(SCENARIO) --sink $(WAREHOUSE) --sink 'file://data/parquet?format=parquet'

dashboard: $(VENV)/.run-deps
	$(VENV)/bin/ats-sim dashboard $(WAREHOUSE)

# Chromium for the browser tests comes from Debian's packages (needs root); elsewhere the
# browser tests skip with a reason, except under CI=true where they must run.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found and not root: browser tests will skip"; fi; }

# The Kafka broker's jars, fetched once from Maven Central with Maven and cached.
kafka-jars: $(VENV)/.dev-deps
	@if command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1; then \
	  $(PY) -c "from ats_sim_testing.kafka_broker import ensure_kafka_jars; print('kafka jars:', ensure_kafka_jars())"; \
	else echo "java or mvn not found: Kafka tests will skip"; fi

test: $(VENV)/.dev-deps $(SF5)/.deps system-deps kafka-jars
	ATS_SNOWFLAKE5_PYTHON=$(SF5)/bin/python $(PY) -m pytest

kafka: $(VENV)/.dev-deps
	$(PY) -m ats_sim_testing.kafka_broker

lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(VENV)/.dev-deps
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(SF5) data .pytest_cache .mypy_cache .ruff_cache
