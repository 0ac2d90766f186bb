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
##   As root (the default user of Docker images and many cloud notebooks) JupyterLab refuses
##   to start unless it is given --allow-root; `make lab` adds it for root only.
##   LAB_ARGS passes more options, e.g.  make lab LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
LAB_AS_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
lab: $(VENV)/.lab-installed
	$(BIN)/jupyter lab $(LAB_AS_ROOT) $(LAB_ARGS) notebooks/00_start_here.ipynb

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

# --- autograde (issue 13): the instructor's answer key for the batch autograder ----------
.PHONY: answer-key
## make answer-key: build/answer_key.json from the solution notebooks (keep it from learners)
answer-key: notebooks
	$(BIN)/python -m backprop_lib.autograde.answer_key build/solutions -o build/answer_key.json
