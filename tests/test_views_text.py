"""Renderers: Terraform-style text, JSON equal to the plan, apply summaries."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import textwrap

from ispctl.reconciler.engine.apply import ApplyResult, Outcome
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.plan import MASK, Plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.views.text import (
    DETAIL_LINES,
    OutcomeLines,
    apply_json,
    apply_summary,
    change_block,
    outcome_text,
    plan_json,
    plan_text,
)

GIB = 1024**3
HASHES = ("{CRYPT}$6$aaaa$first", "{CRYPT}$6$bbbb$second", "{CRYPT}$6$cccc$third")
HIDDEN = frozenset({"password"})


def written(r: Resource) -> Resource:
    return Resource(r.kind, r.key, r.attrs, r.parent, r.depends_on, r.sensitive, recorded_fingerprint=r.fingerprint())


def sample_plan() -> Plan:
    desired = [
        Resource("mailbox", "x@a.example", {"quota": GIB, "password": HASHES[0], "forward": ("f@b.example",)},
                 parent="domain.a.example", sensitive=HIDDEN),
        Resource("mailbox", "y@a.example", {"status": "suspended", "password": HASHES[1]},
                 parent="domain.a.example", sensitive=HIDDEN),
        Resource("tenant", "t", {"display_name": "T"}),
    ]
    live = [
        written(Resource("mailbox", "y@a.example", {"status": "active", "password": HASHES[2]},
                         parent="domain.a.example", sensitive=HIDDEN)),
        written(Resource("mailbox", "old@a.example", {"quota": 5, "password": HASHES[2]},
                         parent="domain.a.example", sensitive=HIDDEN)),
        Resource("tenant", "t", {"display_name": "Old"}),  # created by hand: drift
    ]
    return compute_plan({r.identity: r for r in desired}, {r.identity: r for r in live})


def test_plan_text_has_terraform_elements() -> None:
    text = plan_text(sample_plan()).plain
    assert "  # mailbox.x@a.example will be created\n" in text
    assert '  + mailbox "x@a.example" {\n' in text
    assert f"      + quota    = {GIB} (1 GiB)\n" in text
    assert '      ~ status   = "active" -> "suspended"\n' in text
    assert "  # mailbox.y@a.example will be updated in-place\n" in text
    assert "  # mailbox.old@a.example will be destroyed (because it is not in the desired state)\n" in text
    assert "      - quota    = 5 (5 B) -> null\n" in text
    assert text.rstrip("\n").endswith("Plan: 1 to add, 2 to change, 1 to destroy.")


def test_single_attribute_update_line_is_exact() -> None:
    have = written(Resource("mailbox", "m@a.example", {"status": "active"}))
    want = Resource("mailbox", "m@a.example", {"status": "suspended"})
    text = plan_text(compute_plan({want.identity: want}, {have.identity: have})).plain
    assert '~ status = "active" -> "suspended"' in text
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text


def test_create_quota_line_shows_bytes_and_unit() -> None:
    r = Resource("mailbox", "m@a.example", {"quota": 2 * GIB})
    text = plan_text(compute_plan({r.identity: r}, {})).plain
    assert f"+ quota = {2 * GIB} (2 GiB)" in text
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in text


def test_list_attribute_lines_mark_added_and_removed_items() -> None:
    have = written(Resource("alias", "a@a.example", {"targets": ("keep@a.example", "gone@a.example")}))
    want = Resource("alias", "a@a.example", {"targets": ("new@a.example", "keep@a.example")})
    (change,) = compute_plan({want.identity: want}, {have.identity: have}).changes
    lines = [content for _, content in change_block(change)]
    assert lines == [
        "  # alias.a@a.example will be updated in-place",
        '  ~ alias "a@a.example" {',
        "      ~ targets = [",
        '          - "gone@a.example",',
        '            "keep@a.example",',
        '          + "new@a.example",',
        "        ]",
        "    }",
    ]


def test_move_header_names_both_parents() -> None:
    have = written(Resource("domain", "d.example", {"status": "active"}, parent="tenant.a"))
    moved = Resource("domain", "d.example", {"status": "active"}, parent="tenant.b")
    (change,) = compute_plan({moved.identity: moved}, {have.identity: have}).changes
    assert change_block(change)[0][1] == "  # domain.d.example has moved from tenant.a to tenant.b"
    edited = Resource("domain", "d.example", {"status": "suspended"}, parent=None)
    (change,) = compute_plan({edited.identity: edited}, {have.identity: have}).changes
    assert change_block(change)[0][1] == (
        "  # domain.d.example has moved from tenant.a to (top) and will be updated in-place"
    )


def test_no_changes() -> None:
    assert plan_text(Plan()).plain.startswith("No changes.")
    assert "Plan:" not in plan_text(Plan()).plain


def test_drift_is_listed_before_the_actions() -> None:
    text = plan_text(sample_plan()).plain
    drift_at = text.index("Objects have changed outside of ispctl:")
    entry_at = text.index("  ! tenant.t: created outside ispctl")
    actions_at = text.index("ispctl will perform the following actions:")
    assert drift_at < entry_at < actions_at < text.index("# tenant.t will be updated in-place")


def test_no_drift_section_without_drift() -> None:
    r = Resource("tenant", "t")
    assert "outside of ispctl" not in plan_text(compute_plan({r.identity: r}, {})).plain


def test_text_never_shows_a_password() -> None:
    text = plan_text(sample_plan()).plain
    for secret in HASHES:
        assert secret not in text
        assert secret.split("$")[-1] not in text  # not even a fragment of the hash
    pw_lines = [line.strip() for line in text.splitlines() if "password" in line]
    assert pw_lines == [
        f"- password = {MASK} -> null",
        f"+ password = {MASK}",
        f"~ password = {MASK}",
    ]


def test_sensitive_list_uses_the_action_symbol() -> None:
    r = Resource("mailbox", "m@a.example", {"keys": ("k1", "k2")}, sensitive=frozenset({"keys"}))
    created = plan_text(compute_plan({r.identity: r}, {})).plain
    destroyed = plan_text(compute_plan({}, {r.identity: written(r)})).plain
    assert f"      + keys = {MASK}\n" in created
    assert f"      - keys = {MASK}\n" in destroyed
    assert "k1" not in created + destroyed


def test_plan_json_parses_and_equals_to_dict() -> None:
    plan = sample_plan()
    rendered = plan_json(plan)
    assert json.loads(rendered) == plan.to_dict()
    assert rendered.endswith("}\n")
    for secret in HASHES:
        assert secret not in rendered
    assert plan_json(plan) == rendered  # byte-for-byte stable


def failed_result() -> ApplyResult:
    changes = {c.address: c for c in sample_plan().changes}
    return ApplyResult([
        Outcome(changes["mailbox.x@a.example"], "ok"),
        Outcome(changes["mailbox.y@a.example"], "failed", "ldap: modify refused"),
        Outcome(changes["mailbox.old@a.example"], "skipped", "skipped because mailbox.y@a.example did not apply"),
        Outcome(changes["tenant.t"], "failed", "ldap: no such object"),
    ])


def test_apply_summary_lists_failures() -> None:
    text = apply_summary(failed_result()).plain
    lines = text.splitlines()
    assert lines[0] == ("Apply finished with errors: 1 succeeded (1 added, 0 changed, 0 destroyed), "
                        "2 failed, 1 skipped.")
    assert lines[1:4] == [
        "  mailbox.y@a.example: failed: ldap: modify refused",
        "  tenant.t: failed: ldap: no such object",
        "  mailbox.old@a.example: skipped: skipped because mailbox.y@a.example did not apply",
    ]
    assert "run apply again" in lines[4]


def test_apply_summary_says_a_reason_many_changes_share_once_with_a_count() -> None:
    change = sample_plan().changes[0]
    lost = "lost the directory at ldap://x (cannot connect: Connection refused) ..."
    not_tried = "not tried: the directory at ldap://x is unreachable (see the first error)"
    outcomes = [Outcome(change, "failed", lost)]
    outcomes += [Outcome(dataclasses.replace(change, key=f"u{n}@a.example"), "failed", not_tried) for n in range(836)]
    outcomes += [Outcome(dataclasses.replace(change, key=f"v{n}@a.example"), "failed", "ldap: refused")
                 for n in range(3)]
    lines = apply_summary(ApplyResult(outcomes)).plain.splitlines()
    assert lines[1] == f"  {change.address}: failed: {lost}"
    assert lines[2] == (f"  836 changes failed: {not_tried} ({change.kind}.u0@a.example, {change.kind}.u1@a.example, "
                        f"{change.kind}.u2@a.example and 833 more)")
    assert lines[3:6] == [f"  {change.kind}.v{n}@a.example: failed: ldap: refused" for n in range(3)]
    assert len(lines) == 7


def test_apply_lines_show_a_shared_reason_a_few_times_then_count_it() -> None:
    change = sample_plan().changes[0]
    lines = OutcomeLines()
    not_tried = "not tried: the directory at ldap://x is unreachable (see the first error)"
    shown = [lines.line(Outcome(dataclasses.replace(change, key=f"u{n}@a.example"), "failed", not_tried))
             for n in range(836)]
    printed = [t.plain for t in shown if t is not None]
    assert printed[:3] == [f"{change.kind}.u{n}@a.example: FAILED to {change.action}: {not_tried}" for n in range(3)]
    assert printed[3:] == ["... more changes failed for the same reason are counted in the summary below"]
    # Successes and other reasons are still printed one by one.
    assert lines.line(Outcome(change, "ok")) is not None
    assert lines.line(Outcome(change, "failed", "ldap: refused")) is not None


def test_changes_skipped_for_whatever_did_not_apply_are_one_group() -> None:
    change = sample_plan().changes[0]
    outcomes = [Outcome(dataclasses.replace(change, key=f"s{n}@a.example"), "skipped",
                        f"skipped because domain.d{n % 7}.example did not apply") for n in range(50)]
    lines = apply_summary(ApplyResult(outcomes)).plain.splitlines()
    assert lines[1] == (f"  50 changes skipped: skipped because what they need did not apply "
                        f"({change.kind}.s0@a.example, {change.kind}.s1@a.example, {change.kind}.s2@a.example "
                        "and 47 more)")
    assert len(lines) == 3
    # A few are still listed one by one, with their own reason.
    few = apply_summary(ApplyResult(outcomes[:2])).plain.splitlines()
    assert few[1] == f"  {change.kind}.s0@a.example: skipped: skipped because domain.d0.example did not apply"


def test_apply_summary_when_all_ok() -> None:
    changes = sample_plan().changes
    result = ApplyResult([Outcome(c, "ok") for c in changes])
    assert apply_summary(result).plain == "Apply complete! Resources: 1 added, 2 changed, 1 destroyed.\n"
    assert apply_summary(ApplyResult()).plain == "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.\n"


def test_outcome_text_and_json() -> None:
    result = failed_result()
    texts = [outcome_text(o).plain for o in result.outcomes]
    assert texts == [
        "mailbox.x@a.example: created",
        "mailbox.y@a.example: FAILED to update: ldap: modify refused",
        "mailbox.old@a.example: skipped (skipped because mailbox.y@a.example did not apply)",
        "tenant.t: FAILED to update: ldap: no such object",
    ]
    data = apply_json(result)
    assert data["ok"] is False
    assert json.loads(json.dumps(data)) == data
    assert [o["status"] for o in data["outcomes"]] == ["ok", "failed", "skipped", "failed"]  # type: ignore[index]


def test_text_lines_have_no_trailing_spaces() -> None:
    # Plans are pasted into review comments; stray whitespace shows up as noise there.
    text = plan_text(sample_plan()).plain
    assert not [line for line in text.splitlines() if re.search(r"\s$", line)]


def test_an_archiving_delete_says_archived_not_destroyed() -> None:
    home = written(Resource("maildir", "a@x.example", {"path": "/var/vmail/x.example/a", "uid": 5000}))
    plan = compute_plan({}, {home.identity: home}, archives={"maildir": "moved to the mail archive"})
    text = plan_text(plan).plain
    assert ("  # maildir.a@x.example will be archived (moved to the mail archive, not destroyed, "
            "because it is not in the desired state)\n") in text
    assert "will be destroyed" not in text
    assert text.rstrip("\n").endswith("Plan: 0 to add, 0 to change, 1 to destroy (1 of them archived).")
    (change,) = plan.changes
    assert outcome_text(Outcome(change, "ok")).plain == "maildir.a@x.example: archived (moved to the mail archive)"
    result = ApplyResult([Outcome(change, "ok")])
    assert apply_summary(result).plain == (
        "Apply complete! Resources: 0 added, 0 changed, 1 destroyed (1 of them archived).\n"
    )


def test_moves_between_resellers_are_listed_before_the_actions() -> None:
    live = {("domain", "d.example"): Resource("domain", "d.example", {}, parent="tenant.a")}
    desired = {("domain", "d.example"): Resource("domain", "d.example", {}, parent="tenant.b")}
    plan = compute_plan(desired, live)
    plan = dataclasses.replace(plan, meta={"crossings": {"domain.d.example": ["tenant.a", "tenant.b"]}})
    text = plan_text(plan).plain
    assert "Objects move from under one reseller to another (both sides should review):" in text
    assert "  > domain.d.example: from tenant.a to tenant.b" in text
    assert text.index("from tenant.a to tenant.b\n") < text.index("ispctl will perform the following actions:")


def vhost_diff(added: int) -> tuple[str, ...]:
    """A provider's unified diff of a file that gains ``added`` lines after one kept line."""
    return ("--- sites/a.example.conf", "+++ sites/a.example.conf", f"@@ -1,2 +1,{added + 1} @@",
            " <VirtualHost *:80>", "-    Redirect 301 \"/old\" \"/new\"",
            *(f"+    Redirect 301 \"/p{i}\" \"/new\"" for i in range(added)))


def test_detail_is_shown_inside_the_block_coloured_like_a_diff() -> None:
    update = next(c for c in sample_plan().changes if c.address == "mailbox.y@a.example")
    block = change_block(dataclasses.replace(update, detail=vhost_diff(1)))
    assert block[-1] == ("", "    }")
    shown = block[-8:-1]
    assert shown[0] == ("", "")  # a blank line after the attributes
    assert shown[1:] == [
        ("bold", "        --- sites/a.example.conf"), ("bold", "        +++ sites/a.example.conf"),
        ("cyan", "        @@ -1,2 +1,2 @@"), ("", "         <VirtualHost *:80>"),
        ("red", "        -    Redirect 301 \"/old\" \"/new\""), ("green", "        +    Redirect 301 \"/p0\" \"/new\""),
    ]
    assert change_block(update) == block[:-8] + [("", "    }")]  # without one: as before


def test_a_long_detail_is_cut_in_the_text_and_kept_whole_in_the_json() -> None:
    plan = sample_plan()
    long = vhost_diff(DETAIL_LINES + 40)  # 5 lines of head and context, then the added ones
    plan = dataclasses.replace(plan, changes=tuple(
        dataclasses.replace(c, detail=long) if c.address == "mailbox.y@a.example" else c for c in plan.changes))
    text = plan_text(plan).plain
    assert "        +    Redirect 301 \"/p54\" \"/new\"\n" in text  # line 60
    assert "/p55\"" not in text
    assert "        … 45 more lines (the JSON plan has them all)\n" in text
    data = json.loads(plan_json(plan))
    assert {c["address"]: c.get("detail") for c in data["changes"]}["mailbox.y@a.example"] == list(long)


def test_the_json_views_and_the_consoles_until_used_import_no_rich() -> None:
    # plan --json prints through write_raw: neither the views module nor configuring the
    # consoles imports rich (issue 11); the first console does, honouring --no-color.
    probe = textwrap.dedent("""\
        import json, sys
        from ispctl.reconciler.engine import output
        from ispctl.reconciler.engine.plan import Plan
        from ispctl.reconciler.views.text import plan_json
        output.configure(no_color=True)
        output.write_raw(plan_json(Plan()))
        before = "rich" in sys.modules
        console = output.out()
        sys.stderr.write(json.dumps([before, "rich" in sys.modules, console.no_color]))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout)["changes"] == []
    assert json.loads(done.stderr) == [False, True, True]
