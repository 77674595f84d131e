# Set-up, demo, tests and benchmarks. `make demo` and `make test` install everything they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser demo test test-fast bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Debian's Chromium and CJK fonts for the browser tests (Playwright drives /usr/bin/chromium).
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

demo: install
	$(PY) demo.py $(ARGS)

test: install browser
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not model and not browser and not server and not datasets" $(PYTEST_ARGS)

# Speed benchmarks (figures in BENCHMARKS.md); the GPU script exits with a message when there is no CUDA.
bench: install
	mkdir -p bench/results
	$(PY) -m bench.bench_keyword --json bench/results/keyword.json
	$(PY) -m bench.bench_search --json bench/results/search.json
	$(PY) -m bench.bench_reindex --entries 2000 --model auto --json bench/results/reindex.json
	$(PY) -m bench.bench_memory --json bench/results/memory.json
	-$(PY) -m bench.gpu_embed --json bench/results/gpu_embed.json
	$(PY) -m bench.gpu_rerank --cpu --json bench/results/cpu_rerank.json
	-$(PY) -m bench.gpu_rerank --json bench/results/gpu_rerank.json

clean:
	rm -rf $(VENV) .pytest_cache
