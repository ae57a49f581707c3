"""The import report: what an import wrote, and everything it did not take over as it was.

An import never guesses and never drops silently: each entry of the source directory that
was not imported, each value that was converted, each password hash too weak to keep for
long is one item here, under its section, with the DN it came from. The report is printed
as text for the operator and as JSON for scripts (``--json``); the JSON fields are
documented in README "Adopting an existing ISP".

Password hashes never enter the report (they would end up in logs and CI output): an item
whose text looks like one is refused when it is added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The conventional sections, in the order they are shown; importers may add their own.
NOT_IMPORTED = "not_imported"
CONVERTED = "converted"
WEAK_HASHES = "weak_hashes"
TITLES = {
    NOT_IMPORTED: "Not imported (ispctl does not model these yet)",
    CONVERTED: "Converted (the value written differs from the directory's)",
    WEAK_HASHES: "Weak password hashes (kept as they are; rotate them)",
}
# {SCHEME}value and the crypt(3) formats ($id$salt$hash, 13-character DES): what a hash looks like.
_HASH = re.compile(r"\{[A-Za-z0-9.-]+\}\S{6,}|\$[0-9a-z]{1,2}\$\S+\$\S{8,}")


class SecretInReport(ValueError):
    """An importer tried to put a password hash into the report."""


@dataclass(frozen=True)
class ReportItem:
    dn: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"dn": self.dn, "detail": self.detail}


@dataclass
class ReportSection:
    key: str
    title: str
    items: list[ReportItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many items share each detail (``{"FTPStatus converted": 12}``)."""
        found: dict[str, int] = {}
        for item in self.items:
            found[item.detail] = found.get(item.detail, 0) + 1
        return dict(sorted(found.items()))


@dataclass
class ImportReport:
    """Counts of what was imported, the files written and the sections of what was not as it was."""

    source: str
    imported: dict[str, int] = field(default_factory=dict)
    sections: dict[str, ReportSection] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    def add(self, section: str, dn: str, detail: str, title: str | None = None) -> None:
        """One item; ``title`` names a section of the importer's own (the conventional ones have theirs)."""
        for text in (dn, detail):
            if _HASH.search(text):
                raise SecretInReport(f"a report item for {section} looks like it holds a password hash; report the "
                                     "DN and the scheme, never the hash")
        if section not in self.sections:
            self.sections[section] = ReportSection(section, title or TITLES.get(section, section))
        self.sections[section].items.append(ReportItem(dn, detail))

    def count(self, what: str, n: int = 1) -> None:
        """Count ``n`` more imported objects of one kind (tenants, domains, mailboxes...)."""
        self.imported[what] = self.imported.get(what, 0) + n

    def items(self, section: str) -> list[ReportItem]:
        found = self.sections.get(section)
        return list(found.items) if found is not None else []

    def _ordered(self) -> Iterable[ReportSection]:
        known = [self.sections[k] for k in TITLES if k in self.sections]
        return known + [s for k, s in self.sections.items() if k not in TITLES]

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "imported": dict(sorted(self.imported.items())),
            "written": [str(p) for p in self.written],
            "sections": {
                s.key: {"title": s.title, "count": len(s.items), "by_detail": s.counts(),
                        "items": [i.as_json() for i in sorted(s.items, key=lambda i: (i.dn, i.detail))]}
                for s in self._ordered()
            },
        }

    def text(self, limit: int = 20) -> str:
        """For the operator: counts, then each section's counts by detail and its first DNs."""
        lines = [f"Imported from {self.source}: "
                 + (", ".join(f"{n} {what}" for what, n in sorted(self.imported.items())) or "nothing")]
        if self.written:
            lines.append(f"Wrote {len(self.written)} file(s).")
        for section in self._ordered():
            lines.append("")
            lines.append(f"{section.title}: {len(section.items)}")
            for detail, n in section.counts().items():
                lines.append(f"  {n:>6}  {detail}")
            shown = sorted(section.items, key=lambda i: (i.dn, i.detail))
            for item in shown[:limit]:
                lines.append(f"    {item.dn}: {item.detail}")
            if len(shown) > limit:
                lines.append(f"    ... and {len(shown) - limit} more (--json lists every DN)")
        return "\n".join(lines) + "\n"
