# Every target creates or refreshes .venv by itself: a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
N ?= 100000
# test processes (pytest-xdist): one per core
JOBS ?= auto

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gridcredit demo --n $(N) --out out

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(JOBS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]' && $(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check engine tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) out bench/results
