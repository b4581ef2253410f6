# Two commands: `make demo` and `make test`. Both build .venv inside the repo from pinned dependencies.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_STAMP := $(VENV)/.installed-torch

.PHONY: demo test lint bench bench-torch clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# The tests cover PyTorch models and Flower's Simulation Engine too: they need the torch extra (CPU build,
# ~200 MB) and the simulation extra (Ray, ~70 MB); the demo needs neither.
$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,torch,simulation]'
	@touch $(TORCH_STAMP)

demo: $(STAMP)
	$(BIN)/fairshare demo --out .fairshare/demo

test: $(TORCH_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/valuation.py --json .fairshare/bench-valuation.json
	$(BIN)/python benchmarks/ledger.py --json .fairshare/bench-ledger.json
	$(BIN)/python benchmarks/serving.py --json .fairshare/bench-serving.json
	$(BIN)/python benchmarks/privacy.py --json .fairshare/bench-privacy.json
	$(BIN)/python benchmarks/validators.py --json .fairshare/bench-validators.json

bench-torch: $(TORCH_STAMP)
	$(BIN)/python benchmarks/torch_valuation.py --json .fairshare/bench-torch-valuation.json

clean:
	rm -rf $(VENV) .fairshare
