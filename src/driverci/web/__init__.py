"""Dashboard and JSON API over the judge's results."""
