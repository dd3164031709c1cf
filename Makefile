# The newcomer's path: `make run` starts the service, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

SPECTRAL := tools/spectral/node_modules/.bin/spectral

.PHONY: install browser run test lint typecheck check-spec lint-spec bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## run: the service on the embedded default (SQLite ./tradepost.db) with a fresh token
##      options: make run PORT=8080 HOST=0.0.0.0 (TRADEPOST_DATABASE_URL picks another database)
HOST ?= 127.0.0.1
PORT ?= 8000
run: install
	@$(BIN)/tradepost db upgrade
	@$(BIN)/tradepost products seed
	@echo "A trade API token for tenant TEN123, user USR456 (send it as 'Authorization: Bearer <token>'):"
	@$(BIN)/tradepost tokens create --tenant TEN123 --user USR456
	@echo "API docs (Swagger UI): http://$(HOST):$(PORT)/docs/   spec: http://$(HOST):$(PORT)/openapi.json"
	$(BIN)/tradepost serve --host $(HOST) --port $(PORT)

## browser: Debian's chromium, which the Swagger UI test drives through Playwright
browser:
	@command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## test: lint, types, spec validity and lint, and the whole test suite (pytest workers: one
##       more than there are cores, at most 4; each runs its own servers and databases)
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist worksteal
test: install browser lint typecheck check-spec lint-spec
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the service against FastAPI/Starlette references under wrk, and on PostgreSQL
##        against pgbench running the service's own transactions (bench/RESULTS.md)
##        options: make bench BENCH_ARGS="--duration 5 --rounds 7 --connections 32"
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,bench]'
	rm -f $(VENV)/.bench-* && touch $@

bench: $(BENCH_STAMP)
	@command -v wrk >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
	@pgbench --version >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

check-spec: install
	$(BIN)/openapi-spec-validator --validation-errors all openapi.yaml

$(SPECTRAL): tools/spectral/package.json tools/spectral/package-lock.json
	npm ci --prefix tools/spectral --no-audit --no-fund --silent
	touch $@

## lint-spec: Spectral's OpenAPI rules (pinned in tools/spectral), no warning tolerated
lint-spec: $(SPECTRAL)
	$(SPECTRAL) lint openapi.yaml --ruleset .spectral.yaml --fail-severity=hint

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info tools/spectral/node_modules
