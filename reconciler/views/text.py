"""Views of a plan: Terraform-style text for people, JSON for machines.

Both are rendered from ``Plan`` alone, so they cannot disagree. Sensitive values are
masked here as in ``Plan.to_dict``: the text view never sees a secret either. What an
archive is called comes from the provider that archives (``Change.archive_note``); what a
change writes on its service, as a diff, from its provider too (``Change.detail``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ispctl.reconciler.engine.apply import ApplyResult, Outcome
from ispctl.reconciler.engine.plan import MASK, AttrChange, Change, Plan
from ispctl.reconciler.engine.resources import Value
from ispctl.reconciler.estate.units import format_size

if TYPE_CHECKING:
    from rich.text import Text

# Attributes holding byte counts are shown with a readable unit beside the number.
SIZE_ATTRS = frozenset({"quota", "default_quota", "quota_pool"})
SYMBOL = {"create": "+", "update": "~", "delete": "-"}
STYLE = {"create": "green", "update": "yellow", "delete": "red"}
# A change's detail (its provider's diff of a rendered file) is cut after this many lines, so one
# large file does not bury the rest of the plan; the JSON and the saved plan keep every line.
DETAIL_LINES = 60
# How a delete that keeps the data is described when its provider gave no words of its own.
ARCHIVED = "moved to an archive"
HEADER = {
    "create": "will be created",
    "update": "will be updated in-place",
    "delete": "will be destroyed",
}


def _scalar(name: str, value: Value, sensitive: bool) -> str:
    if value is None:
        return "null"
    if sensitive:
        return MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value} ({format_size(value)})" if name in SIZE_ATTRS else str(value)
    return json.dumps(value, ensure_ascii=False)


def _attr_lines(change: Change, attr: AttrChange, width: int) -> list[tuple[str, str]]:
    """(style, text) lines for one attribute, indented inside the resource block."""
    pad = attr.name.ljust(width)
    before, after = attr.before, attr.after
    if isinstance(before, tuple) or isinstance(after, tuple):
        if attr.sensitive:
            # Same symbol as a scalar of this action would get: + on create, - on destroy.
            return [(STYLE[change.action], f"      {SYMBOL[change.action]} {pad} = {MASK}")]
        old = set(before or ()) if isinstance(before, tuple) else set()
        new = set(after or ()) if isinstance(after, tuple) else set()
        sym = SYMBOL[change.action] if change.action != "update" else "~"
        lines = [(STYLE[change.action], f"      {sym} {pad} = [")]
        for item in sorted(old | new):
            if item in new and item not in old:
                lines.append(("green", f"          + {json.dumps(item, ensure_ascii=False)},"))
            elif item in old and item not in new:
                lines.append(("red", f"          - {json.dumps(item, ensure_ascii=False)},"))
            else:
                lines.append(("", f"            {json.dumps(item, ensure_ascii=False)},"))
        lines.append(("", "        ]"))
        return lines
    if change.action == "create":
        return [("green", f"      + {pad} = {_scalar(attr.name, after, attr.sensitive)}")]
    if change.action == "delete":
        return [("red", f"      - {pad} = {_scalar(attr.name, before, attr.sensitive)} -> null")]
    if attr.sensitive:
        return [("yellow", f"      ~ {pad} = {MASK}")]
    return [("yellow", f"      ~ {pad} = {_scalar(attr.name, before, False)} -> {_scalar(attr.name, after, False)}")]


def change_block(change: Change, detail_limit: int = DETAIL_LINES) -> list[tuple[str, str]]:
    """(style, text) lines of one change; its ``detail`` (up to ``detail_limit`` lines, 0: none)
    indented inside the block."""
    header = f"  # {change.address} {HEADER[change.action]}"
    if change.action == "delete" and change.archive:
        header = (f"  # {change.address} will be archived ({change.archive_note or ARCHIVED}, not destroyed, "
                  "because it is not in the desired state)")
    elif change.action == "delete":
        header += " (because it is not in the desired state)"
    if change.renamed_from:
        header = f"  # {change.renamed_from} has moved to {change.address} (renamed, nothing is destroyed)"
        if change.attrs:
            header += " and will be updated in-place"
    elif change.is_move:
        assert change.before is not None and change.after is not None
        old, new = change.before.parent or "(top)", change.after.parent or "(top)"
        header = f"  # {change.address} has moved from {old} to {new}"
        if change.attrs:
            header += " and will be updated in-place"
    lines: list[tuple[str, str]] = [("bold", header)]
    lines.append((STYLE[change.action], f"  {SYMBOL[change.action]} {change.kind} \"{change.key}\" {{"))
    width = max((len(a.name) for a in change.attrs), default=0)
    for attr in change.attrs:
        lines.extend(_attr_lines(change, attr, width))
    if change.detail and detail_limit:
        # Inside the block like Terraform's heredoc diffs, under the attributes it follows from.
        if change.attrs:
            lines.append(("", ""))
        lines.extend((style, f"        {content}") for style, content in detail_lines(change, detail_limit))
    lines.append(("", "    }"))
    return lines


def _detail_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1], "")


def detail_lines(change: Change, limit: int) -> list[tuple[str, str]]:
    """(style, line) of the change's ``detail`` (its provider's diff): at most ``limit`` lines,
    then how many more there are (the JSON and the saved plan keep them all)."""
    shown = change.detail[:limit]
    lines = [(_detail_style(line), line) for line in shown]
    rest = len(change.detail) - len(shown)
    if rest:
        lines.append(("dim", f"… {rest} more line{'' if rest == 1 else 's'} (the JSON plan has them all)"))
    return lines


def _text(content: str = "", style: str = "") -> Text:
    # rich is imported by the text views only: the JSON view (plan --json) needs none of it (issue 11).
    from rich.text import Text

    return Text(content, style=style)


def plan_text(plan: Plan) -> Text:
    text = _text()

    def line(style: str, content: str) -> None:
        text.append(content + "\n", style=style or None)

    kept = list((plan.meta or {}).get("not_pruned") or [])
    if kept:
        # Not in git, but the prune policy keeps them: say so, or they would go unnoticed.
        line("yellow", f"Not pruned ({len(kept)}; not in git, kept by the prune policy): {', '.join(kept[:20])}"
             + (f" and {len(kept) - 20} more" if len(kept) > 20 else ""))
        line("", "")
    if plan.empty:
        line("bold green", "No changes. The live services match the desired state.")
        return text
    if plan.interrupted:
        line("bold", "An earlier apply was interrupted (ispctl's own unfinished work, not drift):")
        line("", "")
        for change in plan.interrupted:
            line("yellow", f"  ~ {change.address}: interrupted apply: {change.interrupted}; apply resumes it")
        line("", "")
    if plan.drifted:
        line("bold", "Objects have changed outside of ispctl:")
        line("", "")
        for change in plan.drifted:
            line("yellow", f"  ! {change.address}: {change.drift}")
        line("", "")
        line("", "The plan below puts them back as the desired state says.")
        line("", "")
    crossings = (plan.meta or {}).get("crossings") or {}
    if isinstance(crossings, dict) and crossings:
        # Also the business of the side an object leaves: say so before the details.
        line("bold", "Objects move from under one reseller to another (both sides should review):")
        line("", "")
        for address, (old, new) in sorted(crossings.items()):
            line("yellow", f"  > {address}: from {old} to {new}")
        line("", "")
    line("", "ispctl will perform the following actions:")
    line("", "")
    for change in plan.changes:
        for style, content in change_block(change):
            line(style, content)
        line("", "")
    s = plan.summary
    archived = f" ({plan.archived} of them archived)" if plan.archived else ""
    line("bold", f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy{archived}.")
    return text


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def outcome_text(outcome: Outcome) -> Text:
    change = outcome.change
    verb = {"create": "created", "update": "updated", "delete": "destroyed"}[change.action]
    if change.action == "delete" and change.archive:
        verb = f"archived ({change.archive_note or ARCHIVED})"
    if outcome.status == "ok":
        return _text(f"{change.address}: {verb}", style=STYLE[change.action])
    if outcome.status == "skipped":
        return _text(f"{change.address}: skipped ({outcome.error})", style="dim")
    return _text(f"{change.address}: FAILED to {change.action}: {outcome.error}", style="bold red")


# Failures sharing one reason are summed up in one line from this many on.
GROUP_AT = 4
SKIPPED_BECAUSE = "skipped because "


def _reason(outcome: Outcome) -> tuple[str, str | None]:
    """What groups outcomes: their error, except that changes skipped because something they
    need did not apply are one group whatever that was (a lost service skips whole subtrees)."""
    if outcome.status == "skipped" and (outcome.error or "").startswith(SKIPPED_BECAUSE):
        return ("skipped", "skipped because what they need did not apply")
    return (outcome.status, outcome.error)


class OutcomeLines:
    """The lines apply prints as it goes. A reason shared by many changes (a service gone
    mid-apply fails every later change the same way) is shown for the first few; after that
    one line says the rest are counted in the summary, instead of one line per change."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str | None], int] = {}

    def line(self, outcome: Outcome) -> Text | None:
        if outcome.status == "ok":
            return outcome_text(outcome)
        key = _reason(outcome)
        count = self._seen[key] = self._seen.get(key, 0) + 1
        if count < GROUP_AT:
            return outcome_text(outcome)
        if count == GROUP_AT:
            return _text(f"... more changes {outcome.status} for the same reason are counted in the summary below",
                         style="dim")
        return None


def apply_summary(result: ApplyResult) -> Text:
    done = [o for o in result.outcomes if o.status == "ok"]
    counts = {a: sum(1 for o in done if o.change.action == a) for a in ("create", "update", "delete")}
    archived = sum(1 for o in done if o.change.action == "delete" and o.change.archive)
    destroyed = f"{counts['delete']} destroyed" + (f" ({archived} of them archived)" if archived else "")
    text = _text()
    if result.ok:
        text.append(
            f"Apply complete! Resources: {counts['create']} added, {counts['update']} changed, {destroyed}.\n",
            style="bold green",
        )
        return text
    failed = [o for o in result.outcomes if o.status == "failed"]
    skipped = [o for o in result.outcomes if o.status == "skipped"]
    text.append(
        f"Apply finished with errors: {len(done)} succeeded "
        f"({counts['create']} added, {counts['update']} changed, {destroyed}), "
        f"{len(failed)} failed, {len(skipped)} skipped.\n",
        style="bold red",
    )
    # One reason shared by many changes (a service gone mid-apply: "not tried: ...") is said
    # once with the count and a few addresses, not once per change.
    same: dict[tuple[str, str | None], list[Outcome]] = {}
    for outcome in failed + skipped:
        same.setdefault(_reason(outcome), []).append(outcome)
    for (status, reason), group in same.items():
        style = "red" if status == "failed" else "dim"
        if len(group) < GROUP_AT:
            for outcome in group:
                text.append(f"  {outcome.change.address}: {status}: {outcome.error}\n", style=style)
            continue
        shown = ", ".join(o.change.address for o in group[:3])
        text.append(f"  {len(group)} changes {status}: {reason} ({shown} and {len(group) - 3} more)\n", style=style)
    text.append("Fix the failures and run apply again; changes that succeeded are not repeated.\n")
    return text


def apply_json(result: ApplyResult) -> dict[str, Any]:
    return {"ok": result.ok, "outcomes": [o.to_dict() for o in result.outcomes]}
