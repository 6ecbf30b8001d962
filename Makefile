# OMS: `make run` starts the platform, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Every <name>-service folder is a service package (its row is in oms_shared's service table).
PACKAGES := shared gateway simulator $(sort $(wildcard *-service))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := nginx redis-server rabbitmq-server mosquitto wrk

.PHONY: run test lint bench openapi apps setup system-deps clean

run: setup
	$(VENV)/bin/oms-stack run

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

# Manage apps of the platform `make run` started: make apps ARGS="create --tenant acme --json"
apps:
	@test -f data/run/oms.env || { echo "start the platform first: make run"; exit 1; }
	@set -a; . data/run/oms.env; set +a; $(VENV)/bin/oms-apps $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) bench/gateway_overhead.py --rounds 3
	$(PY) bench/production.py
	$(PY) bench/worker_cpu.py
	$(PY) bench/people.py
	$(PY) bench/channel.py
	$(PY) bench/commands.py

# Regenerate the committed API document and compose gateway config from the code.
openapi: setup
	OMS_JWT__SECRET=$$(printf 'x%.0s' $$(seq 40)) OMS_DATA_DIR=$$(mktemp -d) \
	  $(PY) -m oms_gateway.openapi_export docs/openapi.json
	$(PY) -m oms_gateway.render --write gateway/compose.nginx.conf

setup: system-deps $(VENV)/.installed

# nginx, redis-server, rabbitmq-server, mosquitto and wrk from apt when missing (Debian/Ubuntu).
system-deps:
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null || missing="$$missing rabbitmq-server"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(foreach p,$(PACKAGES),-e ./$(p)) -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) data
