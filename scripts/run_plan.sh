#!/usr/bin/env bash
# What `make run` is about to do and roughly how long it takes, printed before it starts (see the Makefile's run-plan).
# Usage: run_plan.sh INSTALLED(yes|no) VENV. The figures are the README's ("What make run costs"), measured on this
# project's 2-core machine; a loaded machine takes longer, so the current load is shown beside them.
set -euo pipefail
installed="${1:-no}"
venv="${2:-.venv}"
cores="$(nproc 2>/dev/null || echo '?')"
load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"

echo "make run: what it does and what it costs"
if [ "$installed" = yes ]; then
  echo "  1. install: $venv is up to date, skipped"
else
  echo "  1. install: creates $venv and installs the pinned dependencies (CPU torch, dagster, mlflow, transformers,"
  echo "     presidio, great-expectations...): 2.7 GB, once per clone; measured 37 min on 2 shared cores at load 5-12,"
  echo "     mostly downloading and unpacking (3.5 CPU-minutes)"
fi
echo "  2. datapilot demo: 160 synthetic reviewed jobs -> every asset in one Dagster run (ingest, export, validation,"
echo "     LoRA training on the shipped demo base, evaluation, promotion), offline: roughly 14 CPU-minutes or more,"
echo "     so at least about 7 min on 2 idle cores; on 2 cores shared with other training (load 2-12) the part up to"
echo "     training alone took 47 min"
echo "  this machine: $cores cores, load average $load$( [ "${load%%.*}" != '?' ] && [ "${load%%.*}" -ge "$cores" ] 2>/dev/null && echo ' (busy: expect longer)')"
echo "  then: make ui (Dagster, http://127.0.0.1:3000) and make mlflow-ui (MLflow, http://127.0.0.1:5000; switch its"
echo "     sidebar to Model training once for the runs tables)"
