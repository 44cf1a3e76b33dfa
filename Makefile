# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
REPO := $(CURDIR)
VENV := $(REPO)/.venv
export PATH := $(VENV)/bin:$(PATH)
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# The demo's state lives in a local file backend under .local/ (git-ignored).
DEMO_BACKEND := file://$(REPO)/.local/demo-state
# For the local dev stack only: its passphrase protects nothing of value and is public on purpose.
DEMO_PASSPHRASE := local-dev-stack-only
PYTEST_ARGS ?=

.PHONY: setup local-up local-down local-status demo demo-down test unit bench clean

setup:
	@bash tools/setup.sh

local-up: setup
	@bash tools/local-stack.sh up

local-down:
	@bash tools/local-stack.sh down

local-status:
	@bash tools/local-stack.sh status

demo: local-up
	@PULUMI_BACKEND_URL=$(DEMO_BACKEND) PULUMI_CONFIG_PASSPHRASE=$(DEMO_PASSPHRASE) bash tools/demo.sh

demo-down:
	@PULUMI_BACKEND_URL=$(DEMO_BACKEND) PULUMI_CONFIG_PASSPHRASE=$(DEMO_PASSPHRASE) bash tools/demo.sh destroy

test: local-up
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

unit: setup
	@$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

bench: local-up
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@$(VENV)/bin/python bench/run.py

clean: local-down
	rm -rf .local
