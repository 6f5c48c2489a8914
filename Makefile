# driverci developer commands. Each target makes its own virtualenv on first use.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: demo demo-sandbox demo-judge test lint bench gerrit clean

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

## gerrit: fetch, init and serve a real Gerrit 3.10 on loopback with the CI's accounts and
## projects, to rehearse a CI against the real thing (needs Java 17 and Maven; Ctrl-C stops)
gerrit: $(BIN)/.installed
	$(BIN)/python -m driverci.realgerrit serve --state gerrit-state

## lint: ruff and mypy --strict on src/
lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src/driverci

## bench: benchmarks, printing their figures
bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) demo-state sandbox-state gerrit-state bench-output test-output
