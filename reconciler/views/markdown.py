"""The plan as a pull-request comment (GitHub-flavoured Markdown).

Summary line first, drift next, then one collapsible section per tenant (the top of each
resource's parent chain, recorded in ``plan.meta["groups"]`` when the plan was made), each
holding a ``diff`` block in the same Terraform style as the terminal view, each change
followed by its provider's diff of what it writes (``Change.detail``), if any, cut to
``DETAIL_LINES``. Secrets are masked exactly as there. GitHub refuses comments over 65,536 characters, so long plans are
cut per section and overall, always saying how much was left out and where the rest is.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ispctl.reconciler.engine.plan import Change, Plan
from ispctl.reconciler.views.text import change_block, detail_lines

MAX_CHARS = 60_000          # below GitHub's 65,536, leaving room for a header of its own
MAX_LINES_PER_GROUP = 400
# Lines of one change's detail (its provider's diff, e.g. a rendered vhost) shown in a comment:
# enough for an edited site, not a whole new file per site of a large plan.
DETAIL_LINES = 30
UNGROUPED = "(no tenant)"


def _summary(plan: Plan) -> str:
    s = plan.summary
    archived = f" ({plan.archived} of them archived)" if plan.archived else ""
    return f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy{archived}."


def _group_counts(changes: list[Change]) -> str:
    counts = {"create": 0, "update": 0, "delete": 0}
    for change in changes:
        counts[change.action] += 1
    parts = [f"{n} to {word}" for word, n in (("add", counts["create"]), ("change", counts["update"]),
                                              ("destroy", counts["delete"])) if n]
    return ", ".join(parts)


def _fence(lines: list[str]) -> list[str]:
    # A line of the plan could itself contain ``` (a TXT record, a description): use a
    # longer fence than any run of backticks inside.
    ticks = "```"
    for line in lines:
        run = 0
        for char in line:
            run = run + 1 if char == "`" else 0
            if run >= len(ticks):
                ticks = "`" * (run + 1)
    return [f"{ticks}diff", *lines, ticks]


def _policy(gates: dict[str, Any]) -> list[str]:
    """The gate settings the plan was checked against, as short facts."""
    limits, prune = gates.get("limits"), gates.get("prune")
    facts = []
    if isinstance(limits, dict):
        facts.append(f"force needed over {float(limits.get('max_change_share', 0)):.0%} of ≥"
                     f"{limits.get('min_existing')} objects of a kind")
    if isinstance(prune, dict):
        keep = list(prune.get("keep") or [])
        facts.append(("prune on" if prune.get("enabled") else "prune off")
                     + (f" (keep {', '.join(f'`{k}`' for k in keep[:5])})" if keep else ""))
    return facts


def _gate_notes(gates: dict[str, Any]) -> list[str]:
    """Before the changes: whether apply will refuse the plan or needs --force, and why."""
    out = []
    protected, too_much = list(gates.get("protected") or []), list(gates.get("thresholds") or [])
    if protected:
        out.append("> **Refused**: apply will refuse this plan (protected objects; `--force` does not lift it):")
        out += [f"> - {reason}" for reason in protected]
        out.append("")
    if too_much:
        out.append("> **Needs `--force`**: this plan is over the change thresholds; the merge applies it only "
                   "with an explicit, audited force (see the README, \"The GitOps workflow\"):")
        out += [f"> - {reason}" for reason in too_much]
        out.append("")
    return out


def _column0(line: str) -> str:
    """The change sign moved to column 0, so GitHub's diff highlighting colours the line.

    The text view indents ``+``/``-``/``~`` under each resource; in a ``diff`` block only a
    sign in the first column counts. The line keeps its length and the rest its alignment.
    """
    body = line.lstrip(" ")
    indent = len(line) - len(body)
    if indent and body[:1] in ("+", "-", "~") and body[1:2] == " ":
        return body[0] + " " * indent + body[1:]
    return line


def plan_markdown(plan: Plan, title: str = "ispctl plan") -> str:
    meta = plan.meta or {}
    commit = meta.get("desired", {}).get("commit") if isinstance(meta.get("desired"), dict) else None
    out = [f"### {title}: {'no changes' if plan.empty else _summary(plan)}", ""]
    facts = []
    if commit:
        facts.append("commit "
                     f"`{str(commit)[:12]}`" + (" (uncommitted changes)" if meta["desired"].get("dirty") else ""))
    facts.append(f"checksum `{plan.checksum[:19]}…`")
    found = meta.get("gates")
    gates: dict[str, Any] = found if isinstance(found, dict) else {}
    facts += _policy(gates)
    out += ["<sub>" + " · ".join(facts) + "</sub>", ""]
    out += _gate_notes(gates)
    kept = list(meta.get("not_pruned") or [])
    if kept:
        out += [f"> **Not pruned**: {len(kept)} object(s) not in git are kept by the prune policy: "
                + ", ".join(f"`{a}`" for a in kept[:20]) + (f" and {len(kept) - 20} "
                                                            "more" if len(kept) > 20 else ""), ""]
    if plan.empty:
        out.append("The live services match the desired state.")
        return "\n".join(out) + "\n"
    for change in plan.interrupted:
        out.append(f"> **Interrupted apply** `{change.address}`: {change.interrupted}; apply resumes it")
    if plan.interrupted:
        out.append("")
    if plan.drifted:
        out.append(f"> **Drift**: {len(plan.drifted)} object(s) changed outside ispctl; this plan puts them back:")
        for change in plan.drifted[:20]:
            out.append(f"> - `{change.address}`: {change.drift}")
        if len(plan.drifted) > 20:
            out.append(f"> - … and {len(plan.drifted) - 20} more")
        out.append("")
    crossings = meta.get("crossings", {}) if isinstance(meta.get("crossings"), dict) else {}
    if crossings:
        out.append(f"> **Crosses tenants**: {len(crossings)} object(s) move from under one reseller to another; "
                   "both sides' owners should review:")
        for address, (old, new) in sorted(crossings.items())[:20]:
            out.append(f"> - `{address}`: from `{old}` to `{new}`")
        if len(crossings) > 20:
            out.append(f"> - … and {len(crossings) - 20} more")
        out.append("")
    groups_meta = meta.get("groups", {}) if isinstance(meta.get("groups"), dict) else {}
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in plan.changes:
        group = str(groups_meta.get(change.address, UNGROUPED))
        grouped[group].append(change)
        # What leaves a reseller shows in its own section too, not only in the receiver's.
        crossing = crossings.get(change.address)
        if crossing and str(crossing[0]) != group:
            grouped[str(crossing[0])].append(change)
    used = sum(len(line) + 1 for line in out)
    left_out = 0
    for group in sorted(grouped, key=lambda g: (g == UNGROUPED, g)):
        changes = grouped[group]
        lines: list[str] = []
        shown = 0
        for change in changes:
            block = [_column0(text) for _style, text in change_block(change, detail_limit=0)]
            # The provider's diff after the block, as it is: its +/- already in column 0.
            block += [text for _style, text in detail_lines(change, DETAIL_LINES)] + [""]
            if len(lines) + len(block) > MAX_LINES_PER_GROUP:
                break
            lines += block
            shown += 1
        section = [f"<details><summary><b>{group}</b>: {_group_counts(changes)}</summary>", ""]
        section += _fence(lines)
        if shown < len(changes):
            section.append(f"… and {len(changes) - shown} more change(s) in {group}, not shown here.")
        section += ["", "</details>", ""]
        size = sum(len(line) + 1 for line in section)
        if used + size > MAX_CHARS:
            left_out += len(changes)
            continue
        out += section
        used += size
        left_out += len(changes) - shown
    if left_out:
        out.append(f"**{left_out} change(s) are not shown** to keep this comment within GitHub's size limit; "
                   "the saved plan (JSON artifact, or `ispctl show PLAN`) has them all.")
    return "\n".join(out) + "\n"
