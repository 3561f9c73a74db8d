# gatewaykit: two commands (and a lint).
#   make lab   -- set everything up and open JupyterLab on your copies of the notebooks (workspace/)
#   make test  -- set everything up and run the whole suite
#   make lint  -- ruff and mypy over gatewaykit/ (CI runs it before make test)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The learner's copies of the notebooks (ignored by git): running them never rewrites the tracked
# notebooks/*.ipynb, so `git pull` does not conflict with a learner's work.
WORKSPACE ?= workspace
# JupyterLab refuses to run as root without --allow-root (containers, workshop VMs).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test setup system-deps clean clean-workspace bench lint

$(STAMP): pyproject.toml requirements/dev.txt requirements/httpbin.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gatewaykit needs Python 3.11+")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing Python packages into $(VENV) (first run takes about a minute)"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/httpbin.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

lab: setup
	@$(VENV)/bin/gatewaykit course init --dir $(WORKSPACE)
	GATEWAYKIT_WORKSPACE=$(abspath $(WORKSPACE)) $(VENV)/bin/jupyter lab --ip 127.0.0.1 $(ALLOW_ROOT) \
		--ServerApp.root_dir=$(WORKSPACE) $(LAB_ARGS)

# Unit, sandbox, cluster (Docker tier when an engine runs), kit, browser tests -- and nbval over
# every notebook (only cells marked NBVAL_CHECK_OUTPUT are compared; see notebooks/sanitize.cfg).
test: setup system-deps
	$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg $(PYTEST_ARGS)

bench: setup
	$(PY) bench/translate
	$(PY) bench/sandbox
	$(PY) bench/kubectl

lint: setup
	$(VENV)/bin/ruff check gatewaykit
	$(VENV)/bin/mypy gatewaykit

# Everything the kit and the tools write -- except the learner's workspace (make clean-workspace).
clean:
	rm -rf $(VENV) .pytest_cache .gatewaykit notebooks/.gatewaykit notebooks/[0-9][0-9]-*/ \
		notebooks/.ipynb_checkpoints test-artifacts
	@echo "kept your work in $(WORKSPACE)/ (make clean-workspace removes it)"

clean-workspace:
	rm -rf $(WORKSPACE)
