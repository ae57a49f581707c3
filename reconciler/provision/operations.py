"""One operation = one typed object: what a command line or one line of ``ispctl batch`` asks.

``op`` is ``<noun>.<verb>``. The object is named by the field of its noun: ``tenant``
(tenant), ``domain`` (domain), ``address`` (mailbox, alias, forward) or ``object`` (a
service's objects: ``www.example.net`` for a record or site, ``dsl-1@example.net`` for an
access account). The other fields are what the verb takes; ``set`` holds any field by its
dotted path (``{"limits.max_domains": 3}``) and ``unset`` removes fields.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ispctl.reconciler.engine.errors import IspctlError

# The noun's naming field (service objects use ``object``).
NAMED_BY = {"tenant": "tenant", "domain": "domain", "mailbox": "address", "alias": "address", "forward": "address"}


class Operation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: str = Field(pattern=r"^[a-z][a-z0-9-]*\.(add|set|suspend|resume|rename|delete|move)$")
    tenant: str | None = None
    domain: str | None = None
    address: str | None = None
    object: str | None = None
    new: str | None = Field(None, description="rename: the new name")
    drop_old: bool | None = Field(None, description="domain.rename: delete the old domain instead of an alias domain")
    parent: str | None = Field(None, description="tenant.add, tenant.move: the client's reseller")
    name: str | None = Field(None, description="display name (tenant, mailbox)")
    contact: str | None = None
    quota: str | int | None = None
    type: str | None = None
    services: list[str] | None = None
    to: list[str] | None = None
    keep_copy: bool | None = None
    description: str | None = None
    password: str | None = Field(None, description="plaintext, hashed before it is written (never stored)")
    password_hash: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)

    @property
    def noun(self) -> str:
        return self.op.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.op.split(".", 1)[1]

    @property
    def target(self) -> str:
        """The object's name, from the field its noun is named by."""
        field = NAMED_BY.get(self.noun, "object")
        value = getattr(self, field)
        if not value:
            raise IspctlError(f"{self.op} needs {field!r} (the {self.noun} to change)")
        return str(value)

    def describe(self) -> str:
        return f"{self.op} {self.target}" + (f" -> {self.new}" if self.new else "")

    def fields(self, *names: str) -> dict[str, Any]:
        """What an add or set writes: the named fields that were given, then ``set``'s."""
        values = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        values.update(self.set)
        return values


class BatchError(IspctlError):
    """Lines of a batch that are not operations; each message starts with its line number."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("\n".join(messages))


def parse_lines(text: str, source: str) -> list[tuple[int, Operation]]:
    """Every operation of a JSON-lines batch with its line number; all bad lines at once."""
    found: list[tuple[int, Operation]] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{source}:{number}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            found.append((number, Operation.model_validate(data)))
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "line"
                # pydantic's input is never repeated: a password field may be wrong here
                errors.append(f"{source}:{number}: {where}: {err['msg']}")
    if errors:
        raise BatchError(errors)
    return found
