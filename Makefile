# Two commands do all the set-up:  `make lab`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: lab test notebooks solutions check-notebooks lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.lab-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	touch $@ $(VENV)/.lab-installed

## make lab: open the course in JupyterLab (creates .venv on first use)
lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

## make test: run the whole test suite (creates/updates .venv on first use)
test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

## make notebooks: rebuild the student notebooks (notebooks/) and the solutions (build/solutions/)
notebooks: $(VENV)/.test-installed
	$(BIN)/python -m backprop_lib.grading.release

## make check-notebooks: fail if notebooks/ is out of date with course/ (what pre-commit runs)
check-notebooks: $(VENV)/.test-installed
	$(BIN)/python -m backprop_lib.grading.release --check

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/softmax_ce.py
	$(BIN)/python benchmarks/digits.py

clean:
	rm -rf build .pytest_cache
