"""tradepost: three documented APIs served from one hand-written OpenAPI document."""
