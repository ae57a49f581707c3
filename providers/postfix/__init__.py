"""Postfix: LDAP lookup tables (ldap_table(5)) that route mail straight from ispctl's directory.

Postfix has no live state of its own for ispctl to reconcile: it reads the directory on
every lookup. This package therefore only renders configuration (``ispctl render
postfix``); see ``providers.postfix.render`` for the tables and why they are ordered as
they are.
"""

from __future__ import annotations

from .render import TABLES, Table, render, write_files

__all__ = ["TABLES", "Table", "render", "write_files"]
