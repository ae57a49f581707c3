"""The pull-request comment view of a plan."""

from __future__ import annotations

import dataclasses

from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.groups import plan_groups
from ispctl.reconciler.engine.plan import Change, Plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.views.markdown import DETAIL_LINES, MAX_CHARS, plan_markdown

SECRET = "{CRYPT}$6$abcdefgh$" + "x" * 86


def tree() -> dict[tuple[str, str], Resource]:
    items = [
        Resource("tenant", "north", {"status": "active"}),
        Resource("tenant", "bakery", {"status": "active"}, parent="tenant.north"),
        Resource("domain", "bakery.example", {"status": "active"}, parent="tenant.bakery"),
        Resource("mailbox", "anna@bakery.example", {"password": SECRET, "quota": 1024},
                 parent="domain.bakery.example", sensitive=frozenset({"password"})),
        Resource("maildir", "anna@bakery.example", {"path": "/v/a"}, depends_on=("mailbox.anna@bakery.example",)),
        Resource("tenant", "south", {"status": "active"}),
        Resource("domain", "south.example", {"status": "active"}, parent="tenant.south"),
    ]
    return {r.identity: r for r in items}


def planned() -> Plan:
    desired = tree()
    plan = compute_plan(desired, {})
    return dataclasses.replace(plan, meta={"groups": plan_groups(plan, desired, {}),
                                           "desired": {"commit": "0123456789abcdef", "dirty": False}})


def test_groups_follow_parents_and_dependencies_to_the_reseller() -> None:
    groups = planned().meta["groups"]
    assert groups["mailbox.anna@bakery.example"] == "tenant.north"
    assert groups["maildir.anna@bakery.example"] == "tenant.north"
    assert groups["domain.south.example"] == "tenant.south"
    assert groups["tenant.north"] == "tenant.north"


def test_comment_has_summary_first_sections_per_tenant_and_no_secret() -> None:
    text = plan_markdown(planned())
    first = text.splitlines()[0]
    assert first == "### ispctl plan: Plan: 7 to add, 0 to change, 0 to destroy."
    assert "commit `0123456789ab`" in text
    assert "<details><summary><b>tenant.north</b>: 5 to add</summary>" in text
    assert "<details><summary><b>tenant.south</b>: 2 to add</summary>" in text
    assert text.index("tenant.north</b>") < text.index("tenant.south</b>")
    assert "# mailbox.anna@bakery.example will be created" in text and "```diff" in text
    assert SECRET not in text and "(sensitive value)" in text


def test_drift_is_called_out_before_the_sections() -> None:
    desired = tree()
    live = {
        k: dataclasses.replace(v, attrs={**v.attrs, "status": "suspended"})
        for k, v in desired.items() if k[0] == "tenant"
    }
    plan = compute_plan(desired, live)
    text = plan_markdown(dataclasses.replace(plan, meta={"groups": plan_groups(plan, desired, live)}))
    assert "> **Drift**: 3 object(s) changed outside ispctl" in text
    assert text.index("**Drift**") < text.index("<details>")


def test_no_changes_says_so() -> None:
    desired = tree()
    assert "### ispctl plan: no changes" in plan_markdown(compute_plan(desired, desired_written(desired)))


def desired_written(index: dict[tuple[str, str], Resource]) -> dict[tuple[str, str], Resource]:
    return {k: dataclasses.replace(v, recorded_fingerprint=v.fingerprint()) for k, v in index.items()}


def test_a_huge_plan_is_cut_to_fit_a_comment_and_says_how_much_is_missing() -> None:
    items = [Resource("tenant", "big", {"status": "active"})]
    items += [Resource("domain", f"d{i:05}.example", {"status": "active", "description": "x" * 200},
                       parent="tenant.big")
              for i in range(3000)]
    desired = {r.identity: r for r in items}
    plan = compute_plan(desired, {})
    text = plan_markdown(dataclasses.replace(plan, meta={"groups": plan_groups(plan, desired, {})}))
    assert len(text) < MAX_CHARS + 2000
    assert "more change(s) in tenant.big, not shown here." in text
    assert "change(s) are not shown" in text and "ispctl show PLAN" in text


def test_backticks_in_values_cannot_end_the_code_block() -> None:
    desired = {("domain", "t.example"): Resource("domain", "t.example", {"description": "```\n# not code"})}
    text = plan_markdown(compute_plan(desired, {}))
    assert "````diff" in text


def test_a_domain_moving_to_another_reseller_is_named_and_shown_to_both() -> None:
    from ispctl.reconciler.engine.groups import plan_crossings

    live = desired_written(tree())
    desired = dict(tree())
    desired[("domain", "bakery.example")] = dataclasses.replace(desired[("domain", "bakery.example")],
                                                                parent="tenant.south")
    plan = compute_plan(desired, live)
    crossings = plan_crossings(plan, desired, live)
    assert crossings == {"domain.bakery.example": ["tenant.north", "tenant.south"]}
    meta = {"groups": plan_groups(plan, desired, live), "crossings": crossings}
    text = plan_markdown(dataclasses.replace(plan, meta=meta))
    assert "> **Crosses tenants**: 1 object(s) move from under one reseller to another" in text
    assert "> - `domain.bakery.example`: from `tenant.north` to `tenant.south`" in text
    assert "<details><summary><b>tenant.north</b>: 1 to change</summary>" in text
    assert "<details><summary><b>tenant.south</b>: 1 to change</summary>" in text
    # A move inside one reseller crosses nothing at that level.
    inside = dict(tree())
    inside[("domain", "bakery.example")] = dataclasses.replace(inside[("domain", "bakery.example")],
                                                               parent="tenant.north")
    assert plan_crossings(compute_plan(inside, live), inside, live) == {}


def test_change_signs_are_in_column_0_so_github_colours_the_diff() -> None:
    live = desired_written(tree())
    desired = dict(tree())
    desired[("domain", "south.example")] = dataclasses.replace(desired[("domain", "south.example")],
                                                               attrs={"status": "suspended"})
    del desired[("maildir", "anna@bakery.example")]
    added = {("tenant", "east"): Resource("tenant", "east", {"status": "active"})}
    text = plan_markdown(compute_plan({**desired, **added}, live))
    block = text.split("```diff\n", 1)[1]
    assert "\n+   tenant \"east\" {" in text and "\n+       status = \"active\"" in text
    assert "\n~   domain \"south.example\" {" in text
    assert "\n~       status = \"active\" -> \"suspended\"" in text
    assert "\n-   maildir \"anna@bakery.example\" {" in text
    # No sign is left indented, and other lines (headers, braces) stay context lines.
    assert not [line for line in block.splitlines() if line.lstrip()[:2] in ("+ ", "- ", "~ ")
                and line[0] == " "]
    assert "\n  # tenant.east will be created" in text


def test_gate_results_and_policy_are_in_the_comment() -> None:
    gates = {"protected": ["domain.x would be destroyed, but tenant.t is protected (protect: true). ..."],
             "thresholds": ["the plan would delete 5 of 10 existing mailbox objects (50%, more than 30%)"],
             "needs_force": True, "refused": True, "limits": {"max_change_share": 0.3, "min_existing": 10},
             "prune": {"enabled": True, "keep": ["mailbox.keep@*"]}}
    text = plan_markdown(dataclasses.replace(planned(), meta={**planned().meta, "gates": gates}))
    assert "force needed over 30% of ≥10 objects of a kind" in text and "prune on (keep `mailbox.keep@*`)" in text
    assert "> **Refused**: apply will refuse this plan" in text and "> - domain.x would be destroyed" in text
    assert "> **Needs `--force`**" in text and "> - the plan would delete 5 of 10" in text
    assert text.index("**Needs `--force`**") < text.index("<details>")
    quiet = plan_markdown(dataclasses.replace(planned(), meta={**planned().meta, "gates": {
        **gates, "protected": [], "thresholds": [], "prune": {"enabled": False, "keep": []}}}))
    assert "Refused" not in quiet and "Needs `--force`" not in quiet and "prune off" in quiet


def with_detail(plan: Plan, lines: int) -> Plan:
    """Every change described by its provider as a new file of ``lines`` lines."""
    def diff(c: Change) -> tuple[str, ...]:
        return ("--- /dev/null", f"+++ sites/{c.key}.conf", f"@@ -0,0 +1,{lines} @@",
                *(f"+    Line {i} of {c.key}" for i in range(lines)))
    return dataclasses.replace(plan, changes=tuple(dataclasses.replace(c, detail=diff(c)) for c in plan.changes))


def test_detail_follows_its_change_in_the_diff_block_signs_in_column_0_and_cut() -> None:
    plan = with_detail(planned(), DETAIL_LINES + 7)
    text = plan_markdown(plan)
    section = text.split("<b>tenant.south</b>", 1)[1].split("</details>", 1)[0]
    block = section.split("```diff\n", 1)[1].split("\n```", 1)[0]
    lines = block.splitlines()
    start = lines.index('+   domain "south.example" {')
    closing = lines.index("    }", start)
    assert lines[closing + 1:closing + 4] == ["--- /dev/null", "+++ sites/south.example.conf",
                                              f"@@ -0,0 +1,{DETAIL_LINES + 7} @@"]
    assert lines[closing + 4] == "+    Line 0 of south.example"
    assert lines[closing + DETAIL_LINES] == f"+    Line {DETAIL_LINES - 4} of south.example"
    assert lines[closing + DETAIL_LINES + 1] == "… 10 more lines (the JSON plan has them all)"
    assert SECRET not in text


def test_a_plan_of_many_described_changes_still_fits_a_comment() -> None:
    items = [Resource("tenant", "big", {"status": "active"})]
    items += [Resource("domain", f"d{i:05}.example", {"status": "active"}, parent="tenant.big") for i in range(500)]
    # Domains with no tenant above are sections of their own: enough of them reach the overall limit.
    items += [Resource("domain", f"e{i:05}.example", {"status": "active"}) for i in range(500)]
    desired = {r.identity: r for r in items}
    plan = compute_plan(desired, {})
    plan = with_detail(dataclasses.replace(plan, meta={"groups": plan_groups(plan, desired, {})}), 200)
    text = plan_markdown(plan)
    assert len(text) < MAX_CHARS + 2000
    assert "more change(s) in domain.e" not in text  # each of those holds one change, cut to DETAIL_LINES
    assert "change(s) are not shown" in text
    assert "… 173 more lines" in text and "Line 26 of" in text and "Line 27 of" not in text
