"""Hostile request bodies: the corpus (``corpus.py``) and what the spec's bounds imply."""
