"""What a service declares about the objects it adds to a domain file, so they can be edited.

A service's objects (DNS records, web sites, FTP site logins, access accounts) live in a
mapping of the domain file (``section``), one key each. ``naming`` says how an operator names
one: ``host`` (a host name in the domain, ``@`` for the apex key: ``www.example.net``) or
``login`` (``<key>@<domain>``). ``suspend`` is the field and value that suspend one (resume
removes the field); None: it cannot be suspended. ``rename`` is True when a rename carries
no data (a DNS record: the delete and the add land in one commit); False refuses it, unless
``previous`` names the object's field of former names: then a rename is the service's planned
rename (the key renamed in place, the old name put first in that field, so apply renames the
live object and keeps what it holds); such a rename stays in its domain. ``no_rename`` says
why a rename is refused and how to do it instead (shown by the refusal). ``follows`` names other
sections of the domain file keyed by the same name whose object goes with it (a web site's FTP
login): a planned rename renames their key too (the object's own ``previous`` carries theirs).
``empty`` is what ``add`` writes for an object given no field (``{}``, or None for a key
with no value). ``password`` names the field a password read with ``--password-stdin`` is
written to, hashed (None: the object has no password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Editable:
    noun: str
    summary: str
    section: tuple[str, ...]
    naming: Literal["host", "login"]
    suspend: tuple[str, Any] | None = None
    rename: bool = False
    empty: Any = None
    password: str | None = None
    previous: str | None = None
    no_rename: str = ""
    follows: tuple[tuple[str, ...], ...] = ()
