"""Carbon-offset API v2 handlers (``/v2/...``)."""
