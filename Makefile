# Two entry points, each self-installing into .venv:
#   make run   - start the main job with an embedded engine and default settings
#   make test  - install everything needed and run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)

.PHONY: run test bench venv clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m hepserver

test: $(STAMP)
	./tools/install_test_deps.sh
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m benches

clean:
	rm -rf $(VENV) build *.egg-info
