"""Fault-injection helpers for tests: a launcher that stops a real apply at an exact point."""
