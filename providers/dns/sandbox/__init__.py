"""A real BIND named for the tests and ``ispctl sandbox`` (harness code: production never imports it)."""
