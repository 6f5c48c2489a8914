# driverci developer commands. Each target makes its own virtualenv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo demo-sandbox demo-judge test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

## demo: the main job on embedded defaults (SQLite + the bundled Gerrit emulator):
## the reference CI rehearsing on real Ironic, then the judge over eight seeded CIs
demo: demo-sandbox demo-judge

demo-sandbox: $(BIN)/.installed
	$(BIN)/driverci sandbox

demo-judge: $(BIN)/.installed
	$(BIN)/driverci demo

## test: the whole test suite
test: $(BIN)/.installed
	$(BIN)/pytest -q

## lint: ruff and mypy --strict on src/
lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src/driverci

## bench: benchmarks, printing their figures
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-state sandbox-state bench-output test-output
