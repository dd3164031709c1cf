"""The Strategies API v0 domain (``/api/v0/...``).

``customers`` (log-in with email and password, login tokens), ``passwords`` (what makes a
new password too weak, in the documents' words), ``retailers`` (which retailers a customer
acts for), ``configs`` (strategy definitions per user and retailer), ``purchases``
(submitted purchases and their strategy outputs).
"""
