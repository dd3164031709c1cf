"""Connexion handlers, one module per API surface (the operation's first tag)."""
