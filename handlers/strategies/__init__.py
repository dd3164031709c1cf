"""Strategies API v0 handlers (``/api/v0/...``, ``/health/``)."""
