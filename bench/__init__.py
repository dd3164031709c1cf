"""``make bench``: the service against FastAPI, Starlette and echo references (issue 7)."""
