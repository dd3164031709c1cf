"""The request path, from the socket to the handler (the stack is drawn in ``context``).

- ``middleware``: request ids, one log line and metrics per request, the body limit;
- ``context``: what a request carries, and which layer sets each part;
- ``services``: what the lifespan builds once and every request reads;
- ``auth``: the bearer check, with ``tokens`` (the verified-token cache; each token is
  accepted by its own surface only) and ``ratelimit`` (per credential, per client address,
  per login);
- ``passwords``: Argon2 hashing and verifying on threads of their own, outside any
  transaction and off the event loop;
- ``idempotency``: ``Idempotency-Key`` replays of creates;
- ``request``: what handlers read of the request in flight, and how they answer.

Conditional requests (``tradepost.conditional``) and JSON (``tradepost.jsonio``) stay at
the top level: the domain uses them too, and ``models`` may not import this package.
"""
