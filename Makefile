# Two commands (see README): `make run` and `make test`.
.PHONY: run test setup lint

VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8050

$(VENV)/bin/certpush: pyproject.toml
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e .
	@touch $@

setup: $(VENV)/bin/certpush

run: setup
	$(VENV)/bin/certpush demo
	$(VENV)/bin/certpush serve --with-scheduler --with-demo-devices --host $(HOST) --port $(PORT)

test:
	bash .ci/test

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
