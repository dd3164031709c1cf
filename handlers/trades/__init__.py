"""Trade API v1 handlers, one module per tag: ``trades`` (``/api/v1/trades``), ``requests``
(``/api/trade-requests``), ``trackings`` (``/api/v1/trade-trackings``), ``pipeline``
(``/api/v1/trade-tracking-pipeline``); ``tenancy`` holds what they share (the caller the
tenancy headers name, the reference's envelope)."""
