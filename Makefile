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
# llama-cpp-python has no wheels on PyPI: we build it once, portably (no -march=native: the
# native build of 0.3.36 crashes in decode on some AVX-512/AMX CPUs), into a cache outside the
# repo, so every later install (and CI on the same machine) reuses it.
LLAMA_VERSION := 0.3.36
WHEEL_CACHE   ?= $(HOME)/.cache/paperbot/wheels
LLAMA_CMAKE   := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
                 -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DLLAMA_BUILD_TESTS=OFF
DEMO_HOME  ?= $(CURDIR)/.paperbot/demo
DEMO_QUESTION ?= How does grokking relate to lazy and rich training dynamics?

.PHONY: install browser demo test lint clean train-verifier

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(FIND_LINKS) $(TORCH)
	@if ! ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (once; ~6-12 min on 2 cores)"; \
		mkdir -p $(WHEEL_CACHE) && CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel --quiet \
			--no-cache-dir --no-deps -w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(BIN)/pip install --quiet $(FIND_LINKS) --find-links $(WHEEL_CACHE) -e '.[dev]'
	@# the MiniLM encoder as ONNX (~/.cache/paperbot/onnx): queries load it in <1 s, not torch
	$(BIN)/python -m bot.index.onnx_export
	touch $@

demo: install
	PAPERBOT_HOME=$(DEMO_HOME) $(BIN)/paperbot ingest data/papers/
	PAPERBOT_HOME=$(DEMO_HOME) $(BIN)/paperbot ask "$(DEMO_QUESTION)"

# The browser test drives Debian's headless Chromium (no downloaded browsers).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian chromium + chromium-driver for the browser test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else \
			echo "no headless Chromium (apt-get install chromium chromium-driver): browser test skips"; \
		fi; \
	fi

test: install browser
	$(BIN)/python -m pytest tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Retrain the entailment verifier from ../shared (CPU, fixed seeds; writes bot/ground/models/entailment)
train-verifier: install
	$(BIN)/paperbot train verifier --shared ../shared

lint: install
	$(BIN)/ruff check bot tests benchmarks

clean:
	rm -rf $(VENV) .paperbot
