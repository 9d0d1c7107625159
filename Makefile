# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS := llm-local,pg,api,ray,dev

.PHONY: install demo test test-fast lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# llama-cpp-python compiles from source once (~5 min on 2 cores); pip caches the wheel afterwards.
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: install
	$(BIN)/marketpilot demo

# The tests run in one worker process per core (pytest-xdist; each worker gives llama.cpp and BLAS its
# share of the cores, tests/conftest.py); `make test WORKERS=0` runs them in this one process.
WORKERS ?= auto
XDIST   := -n $(WORKERS) --dist worksteal

test: install
	$(BIN)/python -m pytest -q --durations=25 $(XDIST)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(XDIST)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .marketpilot .pytest_cache
