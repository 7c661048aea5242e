# defectlab — two commands:
#   make run    set up .venv, build the demo workspace if absent, start the app on it and print its URL
#               (http://localhost:8501; open it in a browser, it does not open one itself)
#   make test   set up .venv, run the whole test suite (and the library's docstring examples)
# and for maintainers:
#   make lint          ruff check (rules in pyproject.toml)
#   make typecheck     mypy on the typed public API (store, learn, quality, team)
#   make test-lowest   the fast tests against the lowest versions pyproject.toml allows
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOWEST_VENV ?= .venv-lowest
WORKSPACE ?= workspace
PORT ?= 8501

.PHONY: run test install demo bench clean lint typecheck test-lowest sample

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,dask]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/defectlab demo --workspace $(WORKSPACE)

run: demo
	@echo "defectlab: open http://localhost:$(PORT) in your browser (Ctrl+C stops the app)"
	DEFECTLAB_WORKSPACE=$(WORKSPACE) $(BIN)/streamlit run app.py --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false --server.fileWatcherType none

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules defectlab --ignore=defectlab/ui
	$(BIN)/python -m pytest -n 2 --timeout 600 -q

typecheck: install
	$(BIN)/mypy

lint: install
	$(BIN)/ruff check .

# A second venv with the lowest allowed version of every direct dependency (uv's lowest-direct
# resolution; uv itself is installed from PyPI into that venv), then the fast tests (no browser, no slow).
test-lowest:
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip 'uv>=0.4'
	$(LOWEST_VENV)/bin/uv pip install --quiet --python $(LOWEST_VENV)/bin/python \
		--resolution lowest-direct -e '.[test]'
	$(LOWEST_VENV)/bin/uv pip list --python $(LOWEST_VENV)/bin/python 2>/dev/null | \
		grep -iE '^(numpy|opencv|scikit-learn|lightgbm|pandas|streamlit|altair|cleanlab|skops) '
	$(LOWEST_VENV)/bin/python -m pytest -n 2 --timeout 600 -q -m 'not browser and not slow'

# regenerate the committed sample in datasets/sample (fixed seed: byte-identical)
sample: install
	$(BIN)/python datasets/make_sample.py

bench: install
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/train.py
	nice $(BIN)/python benchmarks/scale.py --sizes 1000,10000

clean:
	rm -rf $(VENV) $(LOWEST_VENV) test-output .pytest_cache
