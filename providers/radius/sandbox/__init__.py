"""The FreeRADIUS sandbox part: a real FreeRADIUS 3.2 on loopback for the tests and ispctl sandbox."""
