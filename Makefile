# defectlab — two commands:
#   make run    set up .venv, build the demo workspace if absent, open the app on it
#   make test   set up .venv, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
PORT ?= 8501

.PHONY: run test install demo bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/defectlab demo --workspace $(WORKSPACE)

run: demo
	DEFECTLAB_WORKSPACE=$(WORKSPACE) $(BIN)/streamlit run app.py --server.port $(PORT) \
		--browser.gatherUsageStats false

test: install
	$(BIN)/python -m pytest -n 2 --timeout 600 -q

bench: install
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/train.py
	nice $(BIN)/python benchmarks/scale.py --sizes 1000,10000

clean:
	rm -rf $(VENV) test-output .pytest_cache
