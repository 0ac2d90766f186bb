# Two commands do all the set-up:  `make lab`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: lab test notebooks solutions check-notebooks lint bench clean lite serve-lite

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
test: $(VENV)/.test-installed lite
	$(BIN)/python -m pytest

## make notebooks: rebuild the student notebooks (notebooks/) and the solutions (build/solutions/)
notebooks: $(VENV)/.test-installed
	$(BIN)/python -m backprop_lib.grading.release

## make check-notebooks: fail if notebooks/ is out of date with course/ (what pre-commit runs)
check-notebooks: $(VENV)/.test-installed
	$(BIN)/python -m backprop_lib.grading.release --check

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .

## make bench: every benchmark script (each prints ratios measured side by side in one run)
bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/softmax_ce.py
	$(BIN)/python benchmarks/digits.py
	$(BIN)/python benchmarks/training_nb07.py
	$(BIN)/python benchmarks/check_latency.py
	$(BIN)/python benchmarks/diagnosis_latency.py
	$(BIN)/python benchmarks/autograde.py

clean:
	rm -rf build .pytest_cache

# --- autograde (issue 13): the instructor's answer key for the batch autograder ----------
.PHONY: answer-key
## make answer-key: build/answer_key.json from the solution notebooks (keep it from learners)
answer-key: notebooks
	$(BIN)/python -m backprop_lib.autograde.answer_key build/solutions -o build/answer_key.json

# ---------------------------------------------------------------------------
# JupyterLite: the course in the browser, no server (lite/, README "In the browser, no install")
# ---------------------------------------------------------------------------
# The build tools live in a venv of their own (build/lite-venv), so the course's JupyterLab
# never sees the site's extensions; downloads are cached in build/lite-cache.
LITE_VENV := build/lite-venv
LITE_PORT ?= 8000

$(LITE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LITE_VENV)
	$(LITE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITE_VENV)/bin/python -m pip install --quiet -e ".[lite]"
	touch $@

## make lite: build the JupyterLite site into build/lite/ (only when an input changed)
lite: $(LITE_VENV)/.installed
	$(LITE_VENV)/bin/python lite/build_site.py

## make serve-lite: serve build/lite/ on http://127.0.0.1:$(LITE_PORT)/ (any static server will do)
serve-lite: lite
	$(LITE_VENV)/bin/python -m http.server --bind 127.0.0.1 --directory build/lite $(LITE_PORT)
