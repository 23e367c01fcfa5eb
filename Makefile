# Two commands do everything on a fresh Debian machine:
#   make run    install what is needed, then run the main job (mailroom serve) on the embedded defaults
#   make test   install what is needed, then run the whole test suite
# Both are idempotent.

VENV    := .venv
PY      := $(VENV)/bin/python
APT_PACKAGES := tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng tesseract-ocr-osd poppler-utils \
                fonts-dejavu-core fonts-liberation fonts-breip chromium ghostscript qpdf jbig2dec openssl \
                redis-server
HOME_DIR ?= var

.PHONY: setup system-packages venv run test test-quick samples model bench clean

setup: system-packages venv

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: setup
	@test -n "$$(ls -A $(HOME_DIR)/inbox 2>/dev/null)" -o -f $(HOME_DIR)/.samples-copied || \
	  { mkdir -p $(HOME_DIR)/inbox && cp samples/scans/*.pdf $(HOME_DIR)/inbox/ && touch $(HOME_DIR)/.samples-copied; }
	$(VENV)/bin/mailroom --home $(HOME_DIR) serve

# Two pytest workers (one per core here); a test file runs whole on one worker, so the tests of one
# file (the Celery ones share a Redis server) never overlap. The 25 slowest tests are listed at the end.
PYTEST = $(VENV)/bin/python -m pytest -q -n 2 --dist loadfile

test: setup
	$(PYTEST) --durations=25

test-quick: setup
	$(PYTEST) -m 'not slow'

samples: setup
	$(PY) samples/generate.py

model: setup
	$(VENV)/bin/mailroom train

bench: setup
	$(VENV)/bin/python -m pip install -q -e '.[bench]'
	$(PY) bench/ocr.py

clean:
	rm -rf $(VENV) build *.egg-info
