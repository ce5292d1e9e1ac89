# paperbot — one command each for a fresh machine:
#   make demo   set up .venv, ingest data/ and answer a question with citations (offline)
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch lies on this machine's disk (/opt/wheels); elsewhere pip finds it
# on the index. Installing it first keeps sentence-transformers from pulling a CUDA build.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
TORCH      := torch==2.13.0
DEMO_HOME  ?= $(CURDIR)/.paperbot/demo
DEMO_QUESTION ?= How does grokking relate to lazy and rich training dynamics?

.PHONY: install demo test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(FIND_LINKS) $(TORCH)
	$(BIN)/pip install --quiet $(FIND_LINKS) -e '.[dev]'
	touch $@

demo: install
	PAPERBOT_HOME=$(DEMO_HOME) $(BIN)/paperbot ingest data/papers/
	PAPERBOT_HOME=$(DEMO_HOME) $(BIN)/paperbot ask "$(DEMO_QUESTION)"

test: install
	$(BIN)/python -m pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check bot tests benchmarks

clean:
	rm -rf $(VENV) .paperbot
