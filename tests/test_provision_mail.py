"""Mailboxes, aliases and forwards edited on a copy of the example estate: exact diffs."""

from __future__ import annotations

import re
from pathlib import Path

from provision_helpers import BAKERY, LAW, NW, edit, example, snapshot

from ispctl.reconciler.estate.passwords import verify_password


def test_mailbox_add_as_the_issue_writes_it(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", "add", "alice@northwind.example", "--quota", "2GiB", "--name", "Alice Doe")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["+  alice:", "+    name: Alice Doe", "+    quota: 2GiB"]}
    lines = (root / NW).read_text(encoding="utf-8").splitlines()
    # last of the mailboxes, right before aliases:
    assert lines[lines.index("  alice:") + 3] == "aliases:"


def test_password_stdin_is_hashed_and_never_echoed(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", "add", "alice@northwind.example", "--password-stdin",
                        input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert "correct horse" not in result.output and "$6$" not in result.output
    added = diff[NW]
    assert added[:1] == ["+  alice:"] and len(added) == 2
    hashed = re.fullmatch(r'\+    password: "(\{CRYPT\}\$6\$[^"]+)"', added[1])
    assert hashed is not None, added
    assert verify_password("correct horse battery", hashed.group(1))
    assert "correct horse" not in (root / NW).read_text(encoding="utf-8")


def test_mailbox_set_suspend_resume_and_delete(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", "set", "m.chen@hartcole.example", "--quota", "3GiB",
                        "--set", "services.pop3=false")
    assert result.exit_code == 0, result.output
    assert diff == {LAW: ["+    quota: 3GiB", "+    services: {pop3: false}"]}
    result, diff = edit(root, "mailbox", "resume", "lehrling@bäckerei-müller.example")
    assert result.exit_code == 0, result.output
    assert diff == {BAKERY: ["-    status: suspended                 # back in spring"]}
    result, diff = edit(root, "mailbox", "suspend", "karl@bäckerei-müller.example")
    assert diff == {BAKERY: ["+    status: suspended"]}
    result, diff = edit(root, "mailbox", "delete", "d.osei@hartcole.example")
    assert result.exit_code == 1 and diff == {}  # the associates list still names d.osei: refused, file kept
    assert "d.osei" in result.output


def test_mailbox_rename_is_a_planned_rename_with_previous(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", "rename", "karl@bäckerei-müller.example", "k.mueller@bäckerei-müller.example")
    assert result.exit_code == 0, result.output
    hash_line = next(line for line in (root / BAKERY).read_text(encoding="utf-8").splitlines()
                     if "bahMYqKS7FhGfZvl" in line)
    assert diff == {BAKERY: ["-  karl:", "-    name: Karl Müller", "-" + hash_line,
                             "+  k.mueller:", "+    name: Karl Müller", "+" + hash_line,
                             "+    previous: [karl@bäckerei-müller.example]"]}
    result, diff = edit(root, "mailbox", "rename", "anna@bäckerei-müller.example", "anna@hartcole.example")
    assert result.exit_code == 1 and diff == {} and "stays within the tenant" in result.output


def test_aliases_short_form_kept_lists_and_rename(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "alias", "add", "team@northwind.example", "--to", "noc", "--to", "support")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["+  team: [noc, support]"]}
    result, diff = edit(root, "alias", "set", "team@northwind.example", "--to", "noc")
    assert diff == {NW: ["-  team: [noc, support]", "+  team: noc"]}
    result, diff = edit(root, "alias", "rename", "team@northwind.example", "crew@northwind.example")
    assert result.exit_code == 0 and diff == {NW: ["-  team: noc", "+  crew: noc"]}
    result, diff = edit(root, "alias", "suspend", "crew@northwind.example")
    assert diff == {NW: ["-  crew: noc", "+  crew:", "+    to: [noc]", "+    status: suspended"]}
    result, diff = edit(root, "alias", "resume", "crew@northwind.example")
    assert diff == {NW: ["-  crew:", "-    to: [noc]", "-    status: suspended", "+  crew: noc"]}
    assert edit(root, "alias", "delete", "crew@northwind.example")[0].exit_code == 0
    assert snapshot(root) == original


def test_forward_set_and_delete(tmp_path: Path) -> None:
    root = example(tmp_path)
    original = snapshot(root)
    result, diff = edit(root, "forward", "set", "noc@northwind.example", "--to", "noc@elsewhere.example",
                        "--keep-copy")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["+    forward:", "+      to: [noc@elsewhere.example]", "+      keep_copy: true"]}
    result, diff = edit(root, "forward", "delete", "noc@northwind.example")
    assert result.exit_code == 0 and snapshot(root) == original
    result, diff = edit(root, "forward", "set", "tom.reyes@northwind.example", "--to", "tom@new.example")
    assert diff == {NW: ["-      to: [tom.reyes@personal.example]", "+      to: [tom@new.example]"]}


def test_comments_after_a_deleted_entry_stay(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "alias", "delete", "sales@northwind.example")
    assert result.exit_code == 0, result.output
    assert diff == {NW: ["-  sales: [ines.okafor, tom.reyes]"]}
    text = (root / NW).read_text(encoding="utf-8")
    assert "  # MX, SPF, DMARC, the mail SRV records" in text


def test_a_new_password_for_an_existing_mailbox_goes_through_passwd_unless_git_keeps_it(tmp_path: Path) -> None:
    root = example(tmp_path)
    result, diff = edit(root, "mailbox", "set", "noc@northwind.example", "--password-stdin", input="n3w pass\n")
    assert result.exit_code == 1 and diff == {}
    assert "ispctl passwd noc@northwind.example" in result.stderr
    assert edit(root, "mailbox", "set", "noc@northwind.example", "--set", "credentials=git")[0].exit_code == 0
    result, diff = edit(root, "mailbox", "set", "noc@northwind.example", "--password-stdin", input="n3w pass\n")
    assert result.exit_code == 0, result.output
    assert diff[NW][0].startswith("-    password:") and diff[NW][1].startswith('+    password: "{CRYPT}$6$')
