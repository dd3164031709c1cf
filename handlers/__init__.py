"""Connexion handlers: one package per API surface, one module per tag of the spec.

An operation's handler is ``<module>.<operationId in snake_case>``, the module named for
the operation's first tag in ``tradepost.connexion_glue.routing.HANDLER_MODULES``.
Handlers are thin: read the validated request (``tradepost.http.request``), call one
domain function (``models``), shape the answer.
"""
