"""Safety gates a plan must pass before apply may run it.

* **Thresholds** (as octoDNS): when a plan would update, or delete, more than a share
  (default 30%) of an existing set of at least N (default 10) objects of one kind, it
  needs ``--force``. A typo in a shared setting, or a desired-state folder that failed to
  check out, must not rewrite or empty a directory.
* **Protection** (as Terraform's ``prevent_destroy``): ``protect: true`` on a tenant or a
  domain is written to the live object, and a plan that destroys a protected object or
  anything under it fails. Because the live flag decides, removing ``protect`` and deleting
  in the same commit still fails: the protection must be lifted by an earlier, applied
  commit.
* **Pruning policy** (as Argo CD/Flux): objects ispctl owns that are not in git are
  removed unless the site turns pruning off or an address matches a ``keep`` pattern; those
  are only reported.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.engine.resources import Index, ancestors


class GateFailed(IspctlError):
    """The plan needs --force, or touches something protected."""


@dataclass(frozen=True)
class Thresholds:
    max_share: float = 0.30
    min_existing: int = 10


def threshold_violations(plan: Plan, existing: Mapping[str, int], limits: Thresholds) -> list[str]:
    """The shares of each kind's ``existing`` objects (a count by kind) the plan would update or
    delete that are more than the limits allow."""
    updates = Counter(c.kind for c in plan.changes if c.action == "update")
    deletes = Counter(c.kind for c in plan.changes if c.action == "delete")
    problems = []
    for kind in sorted(existing):
        total = existing[kind]
        if total < limits.min_existing:
            continue
        for verb, counts in (("update", updates), ("delete", deletes)):
            share = counts[kind] / total
            if share > limits.max_share:
                problems.append(
                    f"the plan would {verb} {counts[kind]} of {total} existing {kind} objects "
                    f"({share:.0%}, more than {limits.max_share:.0%})"
                )
    return problems


def protection_violations(plan: Plan, live: Index) -> list[str]:
    index = {r.address: r for r in live.values()}
    protected = {r.address for r in live.values() if r.attrs.get("protected") is True}
    problems = []
    for change in plan.changes:
        if change.action != "delete" or change.before is None:
            continue
        guards = [a for a in ancestors(change.before, index) if a in protected]
        if guards:
            problems.append(
                f"{change.address} would be destroyed, but {guards[-1]} is protected (protect: true). "
                "Remove the protection in an earlier, separate commit and apply it first."
            )
    return problems


def check(plan: Plan, live: Index, limits: Thresholds, force: bool, existing: Mapping[str, int] | None = None) -> None:
    """Raise GateFailed with every reason, protection first (``--force`` does not lift it).

    ``existing`` is what the shares count, by kind, when it is more than ``live``'s objects (a
    narrowed plan's, ``narrow``); protection is always the live flag's."""
    protected = protection_violations(plan, live)
    if protected:
        raise GateFailed("Refusing this plan; nothing was changed:\n  " + "\n  ".join(protected))
    if not force:
        counts = Counter(map(itemgetter(0), live)) if existing is None else existing
        too_much = threshold_violations(plan, counts, limits)
        if too_much:
            raise GateFailed(
                "Refusing this plan without --force; nothing was changed:\n  " + "\n  ".join(too_much)
                + "\n  Check the plan, then run again with --force if it is what you meant."
            )


def apply_prune_policy(plan: Plan, enabled: bool, keep: Sequence[str]) -> Plan:
    """Drop deletes of objects that are not in git when pruning is off or they are kept.

    The dropped addresses go to ``meta["not_pruned"]`` so every view can say so.
    """
    kept = [c for c in plan.changes if c.action == "delete" and c.after is None
            and (not enabled or any(fnmatch.fnmatchcase(c.address, p) for p in keep))]
    if not kept:
        return plan
    names = {c.address for c in kept}
    return replace(plan, changes=tuple(c for c in plan.changes if c.address not in names),
                   meta={**plan.meta, "not_pruned": sorted(names)})
