"""What the files that failed their models leave unknown, so that it is not reported twice.

A file with problems is used without its faulty parts (``salvage``) or, when nothing usable
is left (a YAML syntax error, a domain name that is not one), not at all. Either way the
rules across files still run on the rest of the estate, and must not call "missing" what
such a file would have declared: a mailbox that was cut is not a "target that does not
exist". A domain file declares addresses only in its own domain and, as extra addresses, in
the domains of its own tenant, so the doubt stays within that tenant. A file not used at
all declared a domain that the estate does not know, so an address there that looks
external may not be: its ``domain:`` line is looked for in its text (a syntax error further
down does not hide it), and when even that fails, every external address is in doubt
(``lost_domains`` None). Everything else is checked as usual, in the same run.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.loader import DomainDecl, Estate
from ispctl.reconciler.estate.names import InvalidName, normalise_domain

_DOMAIN_LINE = re.compile(r"^domain:[ \t]*[\"']?([^\s\"'#]+)", re.MULTILINE)
_READ = 1 << 20  # the domain: line of a domain file is near its top


@dataclass(frozen=True)
class Uncertain:
    tenants: frozenset[str] = frozenset()  # tenants whose addresses may be incomplete
    # Domains of files that are not in the estate at all; None: one such file's is unknown.
    lost_domains: frozenset[str] | None = frozenset()

    @classmethod
    def of(cls, estate: Estate, problems: Sequence[Problem]) -> Uncertain:
        at_fault = {p.location.file for p in problems if p.location.file}
        at_fault.discard(estate.site_doc.file)  # site settings declare no addresses
        folders = {posixpath.dirname(decl.doc.file): name for name, decl in estate.tenants.items()}
        used = {decl.doc.file for decl in estate.tenants.values()} | {d.doc.file for d in estate.domain_files}
        tenants = {decl.tenant for decl in estate.domain_files if decl.doc.file in at_fault and _cut(decl)}
        # A source repository that could not be read leaves all of its domains unknown.
        lost: set[str] | None = None if any(
            p.location.file == estate.site_doc.file and p.path.startswith("sources") for p in problems) else set()
        for file in sorted(at_fault - used):
            tenant = folders.get(posixpath.dirname(file))
            if tenant is not None:
                tenants.add(tenant)
            declared = _declared(estate, file)
            if declared is None or lost is None:
                lost = None
            else:
                lost.add(declared)
        return cls(frozenset(tenants), None if lost is None else frozenset(lost))

    def maybe_internal(self, address: str) -> bool:
        """Whether an address that looks external may be in a file that could not be used."""
        return self.lost_domains is None or address.rpartition("@")[2] in self.lost_domains


def _declared(estate: Estate, file: str) -> str | None:
    """The domain that a domain file which could not be used declares, from its text."""
    if posixpath.basename(file) == "tenant.yaml" or not file.endswith((".yaml", ".yml")):
        return None  # a tenant that is not in the estate: its domain files are not either
    path = estate.root.parent / file
    try:
        with path.open("rb") as handle:
            text = handle.read(_READ).decode("utf-8", errors="replace")
    except OSError:
        return None  # another repository's file (named by its source), or gone
    match = _DOMAIN_LINE.search(text)
    try:
        return normalise_domain(match[1]).ascii if match else None
    except InvalidName:
        return None


def _cut(decl: DomainDecl) -> bool:
    """Whether loading left out anything of the file that says which addresses exist."""
    data, spec = decl.doc.data, decl.spec
    if not isinstance(data, Mapping):
        return True
    if _get(data, "type", spec.type) != spec.type or _get(data, "alias_of", spec.alias_of) != spec.alias_of:
        return True
    mail = data.get("mail")
    if isinstance(mail, Mapping) and _get(mail, "catch_all", spec.mail.catch_all) != spec.mail.catch_all:
        return True
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, Mapping) or set(aliases) != set(spec.aliases):
        return True
    boxes = data.get("mailboxes") or {}
    if not isinstance(boxes, Mapping) or set(boxes) != set(spec.mailboxes):
        return True
    for local, box in boxes.items():
        extra = box.get("aliases") if isinstance(box, Mapping) else None
        if isinstance(extra, list) and len(extra) != len(spec.mailboxes[local].aliases):
            return True
    return False


def _get(data: Mapping[str, Any], key: str, default: object) -> object:
    return data[key] if key in data else default
