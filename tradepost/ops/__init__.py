"""Operating the service: logs, Prometheus metrics, event-loop lag, the per-worker
listening socket, and Alembic migrations from code."""
