"""The carbon-offset purchases API v2 domain (``/v2/...``).

``ids`` (public ids and surrogate keys), ``catalogue`` (products and prices), ``quotes``
(pricings), ``purchases`` (purchases and their files), ``documents`` (the confirmation and
certificate PDFs), ``webhooks`` (subscriptions and the events written for them) and
``outbox`` (the delivery queue's claims and attempts).
"""
