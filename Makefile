# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint faults interop bench docs mutation clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/cim demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not faults and not interop" -q

faults: $(STAMP)
	$(BIN)/python -m pytest -m faults -q

# Needs node, npm and the npm registry (the official `nats` client is installed into a temp dir).
interop: $(STAMP)
	$(BIN)/python -m pytest -m interop -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# Slow (about 20 minutes for cim/, about an hour for laws/, on two idle cores; not part of CI): mutation scores of cim/ and of the law checkers,
# written into docs/verification.md. `make mutation TARGETS=laws` runs one target.
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py $(TARGETS)

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .hypothesis build mutants
