"""The carbon-offset purchases API v2 domain (``/v2/...``).

``ids`` (public ids and surrogate keys), ``catalogue`` (products and prices), ``quotes``
(pricings), ``purchases`` (purchases and their files), ``documents`` (the confirmation and
certificate PDFs), ``webhooks`` (subscriptions and the events written for them) and
``outbox`` (the delivery queue's claims and attempts).

Carbon calculations: ``calculations`` (pure: items, methodologies, airports, units),
``calculation_pricing`` (a calculation quoted as a pricing), ``comparison`` (CO2 in
everyday terms) and ``data`` (their versioned factor files, with sources and licences).
"""
