# Two commands on a fresh machine: `make run` (pipeline on the embedded data) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# idle OpenMP threads sleep instead of spinning: concurrent trainings (exp grid -j 2, tests)
# then share the cores instead of slowing each other down many times over
export OMP_WAIT_POLICY ?= PASSIVE
STAMP := $(VENV)/.installed

.PHONY: run test test-e2e test-fast lint lint-workflows docs contract install format bench bench-diff bench-ui clean-venv grpc-stubs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# the toolkit was installed as "graft" before the distribution became graft-toolkit; remove
	# it first (both install bin/graft, so removing it afterwards would delete the new script)
	$(BIN)/python -m pip uninstall --quiet --quiet --yes graft
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up, run the pipeline on the embedded UCI Adult data, print the headline metrics.
run: $(STAMP)
	dvc repro
	graft metrics

## Set up and run the test suite on every core (slow tests included; the end-to-end files marked
## e2e are `make test-e2e`'s), then the linters and the docs build. --dist loadgroup: each test file
## (and the files sharing an expensive session fixture) runs on one worker (tests/conftest.py).
PYTEST_PARALLEL := pytest -n auto --dist loadgroup
test: $(STAMP)
	$(PYTEST_PARALLEL) -m "not e2e"
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory lint-workflows
	$(MAKE) --no-print-directory docs

## The end-to-end files: the stories (experiments to release to serving, lifecycle, get-started),
## the Dask cluster and search runs, the second project, a fresh install (CI runs them after make test).
test-e2e: $(STAMP)
	$(PYTEST_PARALLEL) -m e2e

test-fast: $(STAMP)
	pytest -m "not slow"

lint: $(STAMP)
	ruff check .
	ruff format --check .
	mypy

## Schema-check the GitHub workflows and audit them (no finding of medium severity or above).
lint-workflows: $(STAMP)
	check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	zizmor --offline --min-severity medium .github/workflows

## Build the documentation site into site/ (gitignored); --strict: a broken link, a page missing
## from the navigation or a page naming an option graft lacks fails. The reference pages are
## generated from the code while it builds (docs/hooks/reference.py). NO_MKDOCS_2_WARNING: the
## theme's end-of-life banner, not a build problem.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet

## Regenerate the JSON Schemas of `--format json` (tools/graft/cli/schemas/) from the result models;
## tests/code/test_schemas.py fails when a committed one differs.
.PHONY: schemas
schemas: $(STAMP)
	python -m graft.cli.schemas

## The API contract tests against a given package (what deploy.yml runs before a deploy):
## make contract PACKAGE=dist/<model>-<version>.tar.gz
contract: $(STAMP)
	@test -n "$(PACKAGE)" || { echo "usage: make contract PACKAGE=<package archive>" >&2; exit 2; }
	GRAFT_PACKAGE="$(abspath $(PACKAGE))" pytest -p no:cacheprovider \
		tests/integration/test_serve_contract_fuzz.py \
		tests/integration/test_serve.py::test_served_openapi_matches_the_committed_contract

## Create .venv and install the toolkit with every extra, the reference pipeline's dependencies
## (the `pipeline` extra) and the dev tools (what CI runs first). The `graft ui` browser tests
## also need Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`, as .ci/run does);
## without it they skip.
install: $(STAMP)
	@test -x /usr/bin/chromium || echo "install: no /usr/bin/chromium; run 'apt-get install chromium' for the graft ui browser tests" >&2

format: $(STAMP)
	ruff format .
	ruff check --fix .

bench: $(STAMP)
	python benchmarks/bench_pipeline.py

## graft diff --all against dvc exp show / dvc metrics diff on 100 committed experiment branches.
bench-diff: $(STAMP)
	python benchmarks/bench_diff.py

## Regenerate the gRPC modules of `graft serve --grpc-port` from tools/graft/serving/grpc_predict_v2.proto
## (grpcio-tools 1.81, see pyproject.toml), in their own descriptor pool: the protocol's package
## `inference` is also what its clients (tritonclient) register, and one process may hold both.
grpc-stubs: $(STAMP)
	python -m grpc_tools.protoc -I tools --python_out=tools --pyi_out=tools --grpc_python_out=tools \
		graft/serving/grpc_predict_v2.proto
	sed -i 's/_descriptor_pool\.Default()\.AddSerializedFile/_descriptor_pool.DescriptorPool().AddSerializedFile/' \
		tools/graft/serving/grpc_predict_v2_pb2.py
	grep -q '_descriptor_pool.DescriptorPool().AddSerializedFile' tools/graft/serving/grpc_predict_v2_pb2.py

## graft ui's Experiments page for 100 and 1,000 branches against `dvc exp show -a --json`.
bench-ui: $(STAMP)
	python benchmarks/bench_ui.py

clean-venv:
	rm -rf $(VENV)
