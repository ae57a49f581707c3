"""A real Apache 2.4 and php-fpm 8.2 for the tests and ``ispctl sandbox`` (harness code: production never
imports it)."""
