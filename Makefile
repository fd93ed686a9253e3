# Two commands on a fresh Debian machine: `make run` and `make test` (see README.md).
VENV ?= .venv
PYTHON ?= python3
PORT ?= 5000
BIN := $(VENV)/bin
# WeasyPrint (record PDFs and certified copies) loads Debian's Pango at run time.
PDF_LIBS := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core

.PHONY: run test serve lint bench clean

$(BIN)/python:
	@if ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -q 'libpango-1\.0'; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Pango missing (PDF exports): installing $(PDF_LIBS) with apt-get"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq $(PDF_LIBS) >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq $(PDF_LIBS); }; \
	  else echo "PDF exports need Pango: as root run apt-get install -y $(PDF_LIBS)"; fi; \
	fi
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv missing: installing it with apt-get"; \
	  apt-get install -y -qq python3-venv python3-pip && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/cqms db upgrade
	$(BIN)/cqms demo
	@echo ""
	@echo "CQMS is starting on http://127.0.0.1:$(PORT)/  (sign in with an account above; Ctrl-C stops)"
	exec $(BIN)/gunicorn --bind 127.0.0.1:$(PORT) --workers 1 --threads 8 \
	  --access-logfile - wsgi:app

# Whole runs record validation evidence (docs/validation.md) and fail on an unproven claim.
test: $(VENV)/.installed-test
	$(BIN)/ruff check core plugins config tests bench wsgi.py
	$(BIN)/lint-imports
	$(BIN)/pytest --numprocesses=auto --validation-results=reports/validation-results.json --validation-enforce

lint: $(VENV)/.installed-test
	$(BIN)/ruff check core plugins config tests bench wsgi.py
	$(BIN)/lint-imports

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache
