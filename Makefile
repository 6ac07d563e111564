# Two commands (see README): `make run` and `make test`.
.PHONY: run test setup lint lock

VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8050

# Installs the exact versions of requirements.lock (a constraints file: pip takes from it
# only what the project asks for).
$(VENV)/bin/certpush: pyproject.toml requirements.lock
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e .
	@touch $@

setup: $(VENV)/bin/certpush

run: setup
	$(VENV)/bin/certpush demo
	$(VENV)/bin/certpush serve --with-scheduler --with-demo-devices --host $(HOST) --port $(PORT)

test:
	bash .ci/test

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Refresh requirements.lock after changing a dependency range in pyproject.toml; it keeps
# the other pins (`make lock UPGRADE=--upgrade` moves everything to the newest allowed).
# Needs the dev extras, which carry uv (`bash .ci/setup` first). --universal: one lock for
# every platform and Python 3.11+.
UPGRADE ?=
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
		$(UPGRADE) --quiet -o requirements.lock
