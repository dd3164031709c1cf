"""What every API surface shares, and nothing surface-specific.

``caller`` (who is calling: principal, request id, acting user), ``tokens`` (API tokens and
their principals), ``history`` (change history of versioned rows), ``idempotency``
(stored first responses to creates), ``rate_limits`` (request counters shared by every
process), ``tenants`` (tenant counts across tables), ``merge_patch`` (RFC 7396) and
``types`` (column types that behave the same on SQLite and PostgreSQL). It imports no
surface package (import-linter contract).
"""
