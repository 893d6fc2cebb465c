# The one entry point. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
# `langgraph dev` runs from its own venv: langgraph-api pins jsonschema-rs<0.45, schemathesis
# (in .venv) needs >=0.60, so one environment cannot hold both.
LGVENV := .venv-langgraph
LGDEV  := $(LGVENV)/.installed
TOPIC  ?= Should Calder Bay cap and register short-term rentals?

.PHONY: demo test lint format clean bench docs notebooks

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $@

$(LGDEV): pyproject.toml
	$(PYTHON) -m venv $(LGVENV)
	$(LGVENV)/bin/python -m pip install --quiet -e . "langgraph-cli[inmem]==0.4.40"
	touch $@

demo: $(STAMP)
	@THREAD=demo-$$(date +%Y%m%d-%H%M%S); \
	$(VENV)/bin/lockstep run brief --topic "$(TOPIC)" --sources examples/corpus --thread-id $$THREAD && \
	echo && echo "== artifact chain" && $(VENV)/bin/lockstep artifacts $$THREAD && \
	echo && echo "== final brief" && $(VENV)/bin/lockstep show $$THREAD --artifact final | tee .lockstep/$$THREAD.md && \
	echo && echo "== citations, checked again from the file against the corpus" && \
	$(VENV)/bin/lockstep verify .lockstep/$$THREAD.md --sources examples/corpus

test: $(DEV) $(LGDEV)
	$(VENV)/bin/ruff check lockstep tests benchmarks docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -n 2 --dist loadgroup --nbmake --nbmake-timeout=300 tests notebooks \
		--ignore=tests/test_schemathesis.py
	# schemathesis's items share one node id, which xdist's scheduler collapses into one test:
	# run them in one process, so every operation is checked
	$(VENV)/bin/pytest -n 0 tests/test_schemathesis.py

lint: $(DEV)
	$(VENV)/bin/ruff check lockstep tests benchmarks docs
	$(VENV)/bin/ruff format --check lockstep tests benchmarks docs

format: $(DEV)
	$(VENV)/bin/ruff format lockstep tests benchmarks docs
	$(VENV)/bin/ruff check --fix lockstep tests benchmarks docs

notebooks: $(DEV)
	$(PY) notebooks/build.py

docs: $(DEV)
	$(PY) docs/gen_workflows.py
	$(PY) docs/gen_api.py
	$(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=300 \
		--output-dir docs/notebooks notebooks/*.ipynb

bench: $(STAMP)
	$(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) $(LGVENV) .lockstep .pytest_cache .ruff_cache *.egg-info
