# Two entry points for a fresh machine (Python 3.11 with its venv module, nothing else needed):
#   make smoke   install, run the whole embedded smoke DAG on CPU, print where the tables are
#   make test    install, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORES  ?= 2
SMOKE_CONFIG ?= config/smoke.yaml

# No network at run time in the smoke and test runs: every model is local.
export HF_HUB_OFFLINE := 1
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export TOKENIZERS_PARALLELISM := false

# Python's bytecode cache on: with PYTHONDONTWRITEBYTECODE set (these machines set it) every job of the smoke run and
# every test process compiles torch, ultralytics and Snakemake from source again, about a third of a small job's time
# (benchmarks/README.md, "Bytecode cache"). The cache lives in the venv and the checkout, both ignored by git.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install smoke test test-fast dryrun lint clean

# The venv comes first and uv goes inside it (or the `uv` on PATH is used): a distribution's own python3 is
# "externally managed" (PEP 668, Debian 12 / Ubuntu 23.04+), so `python3 -m pip install uv` fails there.
# UV= (empty) forces the stock path that CI runs: python3 -m venv, then uv installed into the venv by its pip.
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
VENV_UV := $(BIN)/uv
else
VENV_UV := $(UV)
endif

$(BIN)/python:
ifeq ($(strip $(UV)),)
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { \
	  echo "$(PYTHON) cannot create a virtual environment (Debian/Ubuntu ship venv's ensurepip separately)." >&2; \
	  echo "Install it, then run make again:  sudo apt-get install python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
else
	$(UV) venv --allow-existing --python $(PYTHON) $(VENV)
endif

# A venv made by uv has no pip: ensurepip adds it before uv goes in.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$$(grep -x 'uv==[0-9.]*' requirements-dev.txt)"

# --compile-bytecode: what pip does at install (uv defers it to each module's first import). Otherwise the smoke's
# first jobs compile about 5,700 modules of torch, diffusers and transformers (about 28 CPU s, twice where two jobs
# start at once) inside the run's five minutes (benchmarks/README.md, "Bytecode at install").
$(BIN)/instdiff: requirements.txt requirements-dev.txt constraints.txt pyproject.toml | $(BIN)/python $(VENV_UV)
	$(VENV_UV) pip install --python $(BIN)/python --compile-bytecode -c constraints.txt -r requirements.txt -r requirements-dev.txt
	$(VENV_UV) pip install --python $(BIN)/python --no-deps -e .
	@touch $@

install: $(BIN)/instdiff

smoke: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake all --cores $(CORES) --configfile $(SMOKE_CONFIG)
	@echo
	@echo "Smoke run finished. Report: results/smoke/report.html  Tables: results/smoke/tables/  Figures: results/smoke/figures/"
	@ls results/smoke/tables/ 2>/dev/null || true

# Everything but the full-size-model tests, then the one full-size UNet forward (fixture 2) that CI must run.
SLOW_IN_CI := tests/parity/test_model_parity.py::test_unet_mask_t981_cond_uncond_gate_on_off

# Two pytest-xdist workers: one runs the smoke DAG's group (tests/conftest.py puts it first), the other the rest,
# one test file per group so that module fixtures are built once. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -m "not slow" --timeout 2400 \
		-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -q -m slow --timeout 1800 $(SLOW_IN_CI)

dryrun: install
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake all -n -q --configfile config/config.yaml

lint: install
	$(BIN)/ruff check instdiff scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules/
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile $(SMOKE_CONFIG)

clean:
	rm -rf results/smoke .snakemake
