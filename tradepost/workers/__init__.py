"""Work done beside requests: the webhook delivery worker (``webhooks``) and the rules for
where it may send requests (``egress``)."""
