"""Trade API v1 handlers (``/api/v1/...``)."""
