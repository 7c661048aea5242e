# defectlab — two commands:
#   make run    set up .venv, build the demo workspace if absent, start the app on it and print its URL
#               (http://localhost:8501; open it in a browser, it does not open one itself)
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
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/defectlab demo --workspace $(WORKSPACE)

run: demo
	@echo "defectlab: open http://localhost:$(PORT) in your browser (Ctrl+C stops the app)"
	DEFECTLAB_WORKSPACE=$(WORKSPACE) $(BIN)/streamlit run app.py --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: install
	$(BIN)/python -m pytest -n 2 --timeout 600 -q

bench: install
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/train.py

clean:
	rm -rf $(VENV) test-output .pytest_cache
