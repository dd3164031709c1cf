#!/bin/sh
# The container's start step, run as is by the image and by tests/platform/test_package.py:
# apply the migrations, then become the server (exec: one process per container, which
# receives the container's SIGTERM and stops gracefully). Settings come from the
# environment: TRADEPOST_DATABASE_URL and the other TRADEPOST_* variables (README,
# "Configuration"), plus
#   TRADEPOST_HOST     (default 0.0.0.0)   the address to listen on
#   TRADEPOST_PORT     (default 8000)      the port
#   TRADEPOST_WORKERS  (default 1)         uvicorn worker processes
# Any arguments replace the default command (e.g. `tokens create --tenant T`, or `sh`).
set -eu
if [ "$#" -gt 0 ]; then
    case "$1" in
        -*|serve|db|tokens|customers|strategies|tenants|idempotency|products|webhooks)
            exec tradepost "$@" ;;
        *)
            exec "$@" ;;
    esac
fi
tradepost db upgrade
exec tradepost serve \
    --host "${TRADEPOST_HOST:-0.0.0.0}" \
    --port "${TRADEPOST_PORT:-8000}" \
    --workers "${TRADEPOST_WORKERS:-1}"
