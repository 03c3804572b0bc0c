# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/leadsync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,report,browse]'
	touch $(BIN)/leadsync

install: $(BIN)/leadsync

demo: install
	$(BIN)/leadsync demo

# lint-imports keeps the layers of docs/architecture.md (contracts in pyproject.toml).
# The report's browser test needs chromium: CI runs as root on Debian, so install it there.
test: install
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing and we are not root: the report's browser test will be skipped"; \
	  fi; \
	fi
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
