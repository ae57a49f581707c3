"""Which handler makes an operation: the estate's own objects, else a service's ``Editable``."""

from __future__ import annotations

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision import domain_rename, mail, objects
from ispctl.reconciler.provision.editor import CORE, Editor, Handler
from ispctl.reconciler.provision.operations import Operation

HANDLERS: dict[str, Handler] = {**CORE, **mail.HANDLERS, **domain_rename.HANDLERS}


def nouns(ed: Editor) -> list[str]:
    return sorted({k.split(".")[0] for k in HANDLERS} | set(ed.editables))


def apply_operation(ed: Editor, op: Operation) -> None:
    handler = HANDLERS.get(op.op)
    if handler is not None:
        handler(ed, op)
        return
    if any(key.startswith(op.noun + ".") for key in HANDLERS):
        raise IspctlError(f"{op.op}: there is no such operation on a {op.noun}")
    editable = ed.editables.get(op.noun)
    if editable is None:
        raise IspctlError(f"unknown object {op.noun!r} (known: {', '.join(nouns(ed))})")
    objects.apply(ed, editable, op)
