# `make demo` and `make test` work on a fresh machine: both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# One resolver run with torch pinned: the CPU build from the local wheel, no CUDA downloads.
	# Ray (the scale-out tests start a two-node cluster on this machine) pulls no torch.
	$(BIN)/pip install --quiet "torch==2.13.0" -e ".[dev,ray]"
	touch $(STAMP)

demo: $(STAMP)
	MLPILOT_DATA_DIR=.mlpilot $(BIN)/mlpilot run \
	  "predict the species of a penguin, at least 95% accuracy, 30 seconds" \
	  --data examples/penguins.csv --yes

# The slowest tests are listed at the end: the suite must stay well under 15 minutes.
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf .mlpilot mlruns .pytest_cache
