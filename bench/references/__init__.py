"""Reference implementations of the benchmarked operations, one uvicorn process each.

Each app reads its database from ``BENCH_DATABASE_URL`` and uses the service's SQLModel
tables (the same schema, created by the service's migrations), so every variant reads and
writes the same rows with the same column types.
"""
