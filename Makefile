# `make run` and `make test` each set up everything they need on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup test-deps run test bench clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Postdesk needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/postdesk run

# Real servers the tests use, from Debian's packages, installed when missing: Dovecot for the
# IMAP tests, chromium (driven by Playwright) for the admin's browser tests, a CJK font so the
# browser draws Chinese text, PostgreSQL (with its contrib's pg_trgm) for the suite's second pass,
# openssl to sign mail as an agent's S/MIME client would.
TEST_PACKAGES = dovecot-imapd chromium fonts-wqy-microhei postgresql openssl
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing for the tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The whole suite twice: on SQLite, then on a private PostgreSQL server the tests start (tests/postgres.py).
test: setup test-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	POSTDESK_TEST_DB=postgresql $(BIN)/python -m pytest

# Figures of issue 4 (not part of make test: timings need a quiet machine).
bench: setup
	$(BIN)/python bench/corpus.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/smtp_end_to_end.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/import_speed.py

clean:
	rm -rf $(VENV) var .pytest_cache

# The admin's catalogs: extract what templates and views mark, merge into each language's .po, compile the .mo
# files (both are committed, so a fresh checkout and the wheel need no Babel step).
translations: setup
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k Reason --no-location --omit-header -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d web/translations
