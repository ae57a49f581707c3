"""The plan: deterministic, JSON-serialisable data that every renderer views.

A plan is computed by ``diff.compute_plan`` from desired and live
resources. Changes are sorted by address; secrets are masked whenever the plan leaves
the process (``to_dict`` never contains a sensitive value), and the checksum is taken
over that masked form so a saved plan can be verified without holding secrets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from ispctl.reconciler import __version__
from ispctl.reconciler.engine.resources import Resource, Value, canonical_json

Action = Literal["create", "update", "delete"]
MASK = "(sensitive value)"  # what every view shows instead of a sensitive value
FORMAT_VERSION = 1


@dataclass(frozen=True)
class AttrChange:
    name: str
    before: Value
    after: Value
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": _mask(self.before, self.sensitive),
            "after": _mask(self.after, self.sensitive),
            "sensitive": self.sensitive,
        }


def _mask(value: Value, sensitive: bool) -> Any:
    if value is None:
        return None
    if sensitive:
        return MASK
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Change:
    """One planned action on one resource, with attribute-level detail.

    ``drift`` says why the live object differs from what ispctl last wrote, when it
    does (for example "changed outside ispctl"); such changes are listed first.
    ``archive`` marks a delete that its provider carries out by archiving (mail is moved
    to the mail archive, never destroyed); ``archive_note`` is the provider's word for where
    it goes, for the views (the plan's ``meta["archives"]`` keeps it per kind in JSON).
    ``interrupted`` says what an earlier apply left half-done on this object (never drift).
    ``detail`` is what the change means on the service, from its provider
    (``Provider.describe``): unified-diff lines of the files it writes (a rendered Apache
    vhost), never secrets. It is derived from the rest, so it takes no part in equality; it
    is in the JSON (and the checksum) when there is any, so a saved plan binds what was reviewed.
    """

    action: Action
    kind: str
    key: str
    before: Resource | None
    after: Resource | None
    attrs: tuple[AttrChange, ...]
    drift: str | None = None
    archive: bool = False
    archive_note: str | None = field(default=None, compare=False)
    interrupted: str | None = field(default=None, compare=False)
    detail: tuple[str, ...] = field(default=(), compare=False)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.key}"

    @property
    def resource(self) -> Resource:
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found

    @property
    def renamed_from(self) -> str | None:
        """The address the object had before a rename, or None."""
        if self.action == "update" and self.before is not None and self.before.key != self.key:
            return self.before.address
        return None

    @property
    def is_move(self) -> bool:
        return (
            self.action == "update"
            and self.before is not None
            and self.after is not None
            and self.before.parent != self.after.parent
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "address": self.address,
            "kind": self.kind,
            "key": self.key,
            "action": self.action,
            "drift": self.drift,
            "attributes": [a.to_dict() for a in self.attrs],
        }
        if self.is_move:
            assert self.before is not None and self.after is not None
            data["moved"] = {"from": self.before.parent, "to": self.after.parent}
        if self.renamed_from:
            data["renamed_from"] = self.renamed_from
        if self.archive:
            data["archive"] = True
        if self.interrupted:
            data["interrupted"] = self.interrupted
        if self.detail:
            # Only when there is some: plans saved before it existed keep their exact JSON.
            data["detail"] = list(self.detail)
        return data


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def summary(self) -> dict[str, int]:
        return {"add": self.count("create"), "change": self.count("update"), "destroy": self.count("delete")}

    @property
    def archived(self) -> int:
        """How many of the deletes archive rather than destroy."""
        return sum(1 for c in self.changes if c.action == "delete" and c.archive)

    @property
    def drifted(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.drift)

    @property
    def interrupted(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.interrupted)

    @property
    def destructive(self) -> bool:
        return self.count("delete") > 0

    def _body(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "ispctl_version": __version__,
            "meta": self.meta,
            "summary": self.summary,
            "drift": [c.address for c in self.drifted],
            "changes": [c.to_dict() for c in self.changes],
        }

    @property
    def checksum(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self._body()).encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        body = self._body()
        body["checksum"] = self.checksum
        return body
