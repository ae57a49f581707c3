"""A real pure-ftpd-ldap on loopback, for the tests and ``ispctl sandbox``."""
