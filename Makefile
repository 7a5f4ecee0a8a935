# alptk: `make demo` runs the default recipe, `make test` runs the test suite.
# Both install first (into tools/venv, from PyPI only) when the environment is missing or stale;
# pip retries and resumes interrupted downloads (torch's wheel is over 500 MB).
# `make test PYTEST_ARGS='-m "not slow"'` skips the end-to-end recipe runs.
# `make test-cluster` (root) installs and starts a single-machine Slurm with apt (tools/slurm/), runs the cluster
# tests on it (which `make test` skips where `sinfo` does not answer), and stops what it started.

PYTHON ?= python3
VENV := tools/venv
STAMP := $(VENV)/.installed
DEMO := egs/mini_synth/alp1

.PHONY: install demo test test-cluster lint clean

install: $(STAMP)

$(STAMP): setup.py
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --retries 10 --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --retries 10 --resume-retries 10 -e '.[test]'
	@touch $@
	@echo "alptk installed in $(VENV) (activate with: . $(VENV)/bin/activate)"

demo: install
	cd $(DEMO) && ./run.sh

test: lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests

test-cluster: install
	@test "$$(id -u)" -eq 0 || { echo "make test-cluster: needs root (it installs Slurm with apt and starts its" \
		"daemons); make test runs the cluster tests wherever sinfo answers" >&2; exit 1; }
	@trap tools/slurm/stop.sh EXIT; tools/slurm/install.sh && \
		$(VENV)/bin/python -m pytest -v -rs $(PYTEST_ARGS) tests/test_cluster.py

lint: install
	$(VENV)/bin/ruff check alptk tests benchmarks
	$(VENV)/bin/ruff format --check --quiet alptk tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info
