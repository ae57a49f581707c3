"""Web hosting: Apache 2.4 virtual hosts and PHP-FPM pools per site, certificates from ACME.

``sandbox/`` runs a real Apache and php-fpm for the tests and ``ispctl sandbox``.
"""
