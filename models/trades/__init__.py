"""The trade API v1 domain (``/api/v1/trades``).

``trades`` (the table and every rule about changing a trade: create, update, sub-resources,
status moves, delete), ``lifecycle`` (statuses and the moves between them), ``lists``
(the list and negotiations filters), ``units`` (``productUnitType`` spellings);
``requests`` (trade requests and their approval), ``trackings`` (a trade's delivery, leg
by leg), ``pipeline`` (sampling approval, finances, payment per trade and process flow).
"""
