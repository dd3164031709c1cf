"""Carbon calculations of the carbon-offset API v2 (``POST /v2/calculations``): pure code.

- ``units``: carbon and distance units, and the rounding of reported quantities;
- ``places``: airports and city codes (airportsdata), ``lat,long`` points, great-circle
  distance;
- ``items``: what a request's items say, read once into typed values, with the errors
  that name the item and attribute (``ItemProblem``);
- ``flights``, ``ground``, ``stays``: the methodologies of each item type;
- ``engine``: a request's items in, integer grams per item and in total out.

The factors are data (``models.offsets.data``), loaded once per process. Nothing here
touches the database or the request; the handlers call ``engine.calculate``.
"""
