# The two commands of the README:
#   make demo   set up a virtual environment and run the main job on bundled real EEG
#   make test   set up a virtual environment (and the Debian tools the tests need) and run the tests
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup system-deps lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "setuptools>=77.0.3,<82" wheel
	# torch first, by exact version, so pip takes the local CPU wheel (SPEC section 4)
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

system-deps:
	bash .ci/system-deps.sh

demo: $(STAMP)
	$(BIN)/mi-export demo --workdir build/demo

test: system-deps $(STAMP)
	$(BIN)/pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf build .pytest_cache
