# Two commands for a new user: `make demo` and `make test`. Each creates .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

# torch first, pinned: pip takes the CPU build from local disk, and constraints.txt keeps every later
# package from swapping it for a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/genzoo demo

test: install
	sh .ci/system-deps.sh
	$(PY) -m pytest -n 2 --timeout 900

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts examples

bench: install
	$(PY) -m pip install -q -c constraints.txt -e '.[bench]'
	for b in benchmarks/[a-z]*.py; do case $$b in *gpu_smoke*) continue;; esac; \
	  $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
