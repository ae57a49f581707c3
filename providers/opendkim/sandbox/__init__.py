"""OpenDKIM, and the Postfix it signs for, on loopback for tests and ``ispctl sandbox``."""
