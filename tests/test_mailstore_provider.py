"""The mail-store provider through the engine, on a real filesystem (``ISPCTL_PROVIDERS=mailstore``).

Only maildirs are planned here, so no directory server is needed; the tests with slapd and
Dovecot are in tests/test_mailstore_safety.py. States a killed apply leaves behind are built
on disk by hand, exactly as the kill would leave them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ispctl.providers.mailstore import store
from ispctl.reconciler.engine.apply import ApplyResult
from ispctl.reconciler.engine.plan import Plan
from ispctl.reconciler.views.text import apply_summary, plan_text
from tests.ldap_helpers import HASH, write_estate
from tests.wiring import open_session

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root (CI runs as root)"
)

BOXES = {"anna": "", "karl": ""}


def estate(tmp_path: Path, boxes: dict[str, str]) -> Path:
    """One tenant, one domain (example.net); ``boxes`` maps local parts to extra YAML lines."""
    body = "domain: example.net\nmailboxes:\n"
    for local, extra in boxes.items():
        body += f"  {local}:\n    password: \"{HASH}\"\n" + "".join(f"    {line}\n" for line in extra.splitlines())
    return write_estate(tmp_path / "estate", {"acme/tenant.yaml": "name: Acme\n", "acme/example.net.yaml": body})


def env(root: Path, **more: str) -> dict[str, str]:
    return {"ISPCTL_PROVIDERS": "mailstore", "ISPCTL_MAIL_ROOT": str(root), **more}


def plan(estate_dir: Path, root: Path, prune: bool = True, **more: str) -> Plan:
    with open_session(estate_dir, env(root, **more)) as session:
        return session.plan(prune=prune)


def apply(estate_dir: Path, root: Path, **more: str) -> tuple[Plan, ApplyResult]:
    with open_session(estate_dir, env(root, **more)) as session:
        planned = session.plan()
        return planned, session.apply(planned)


def deliver(home: Path, name: str, body: bytes) -> None:
    (home / "Maildir" / "new" / name).write_bytes(body)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "vmail"


def test_apply_creates_every_home_and_converges(tmp_path: Path, root: Path) -> None:
    planned, result = apply(estate(tmp_path, BOXES), root)
    assert [(c.action, c.address) for c in planned.changes] == [
        ("create", "maildir.anna@example.net"), ("create", "maildir.karl@example.net")]
    assert planned.changes[0].after is not None and planned.changes[0].after.depends_on == ("mailbox.anna@example.net",)
    assert result.ok, [o.error for o in result.failed]
    assert sorted(h.address for h in store.scan(str(root))) == ["anna@example.net", "karl@example.net"]
    assert (root / "example.net" / "anna" / "Maildir" / "cur").is_dir()
    assert plan(tmp_path / "estate", root).empty


def test_removing_a_mailbox_archives_its_mail_and_the_plan_says_so(tmp_path: Path, root: Path) -> None:
    apply(estate(tmp_path, BOXES), root)
    deliver(root / "example.net" / "karl", "1.eml", b"Subject: keep me\r\n\r\nbody\r\n")
    smaller = estate(tmp_path / "v2", {"anna": ""})
    assert plan(smaller, root, prune=False).empty  # --no-prune: nothing is archived either
    planned, result = apply(smaller, root)
    (change,) = planned.changes
    assert (change.action, change.address, change.archive) == ("delete", "maildir.karl@example.net", True)
    text = plan_text(planned).plain
    assert ("# maildir.karl@example.net will be archived (moved to the mail archive, not destroyed, "
            "because it is not in the desired state)") in text
    assert "Plan: 0 to add, 0 to change, 1 to destroy (1 of them archived)." in text
    assert result.ok and "1 destroyed (1 of them archived)" in apply_summary(result).plain
    (archived,) = (root / ".ispctl-archive").iterdir()
    assert archived.name.endswith("--karl@example.net")
    assert (archived / "Maildir" / "new" / "1.eml").read_bytes() == b"Subject: keep me\r\n\r\nbody\r\n"
    assert json.loads((archived / ".ispctl-archive.json").read_text())["original_path"] == f"{root}/example.net/karl"
    assert not (root / "example.net" / "karl").exists()
    assert plan(smaller, root).empty


def test_a_rename_moves_the_home_and_keeps_the_mail(tmp_path: Path, root: Path) -> None:
    apply(estate(tmp_path, BOXES), root)
    deliver(root / "example.net" / "karl", "1.eml", b"karl's mail")
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"})
    planned, result = apply(renamed, root)
    (change,) = planned.changes
    assert (change.action, change.renamed_from, change.address) == (
        "update", "maildir.karl@example.net", "maildir.k.mueller@example.net"
    )
    assert "has moved to maildir.k.mueller@example.net (renamed, nothing is destroyed)" in plan_text(planned).plain
    assert result.ok, [o.error for o in result.failed]
    home = root / "example.net" / "k.mueller"
    assert (home / "Maildir" / "new" / "1.eml").read_bytes() == b"karl's mail"
    assert not (root / "example.net" / "karl").exists()
    assert store.read_marker(str(home))["address"] == "k.mueller@example.net"  # type: ignore[index]
    assert plan(renamed, root).empty


def kill_inside_a_rename(root: Path, moved: bool) -> tuple[Path, Path]:
    """What a kill inside the maildir rename leaves: the intent record written into the marker
    (as the provider writes it), then, with ``moved``, the directory renamed too."""
    old, new = root / "example.net" / "karl", root / "example.net" / "k.mueller"
    marker = store.read_marker(str(old))
    assert marker is not None
    store.write_marker(str(old), "karl@example.net", marker["fingerprint"],
                       moving=("k.mueller@example.net", str(new)))
    if moved:
        os.rename(old, new)
    return old, new


@pytest.mark.parametrize(("moved", "words"), [
    (True, "the home of karl@example.net was moved to {new} (for k.mueller@example.net), its marker not yet "
           "rewritten"),
    (False, "moving the home of karl@example.net to {new} (for k.mueller@example.net) had not started or not "
            "finished"),
])
def test_a_rename_killed_inside_the_move_is_an_interrupted_apply_not_drift(
    tmp_path: Path, root: Path, moved: bool, words: str
) -> None:
    apply(estate(tmp_path, BOXES), root)
    deliver(root / "example.net" / "karl", "1.eml", b"mail")
    old, new = kill_inside_a_rename(root, moved)
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"})
    planned = plan(renamed, root)
    (change,) = planned.changes
    assert (change.address, change.renamed_from) == ("maildir.k.mueller@example.net", "maildir.karl@example.net")
    # The hourly drift check must not blame a person for ispctl's own unfinished work.
    assert change.drift is None and planned.drifted == ()
    assert change.interrupted == words.format(new=new)
    text = plan_text(planned).plain
    assert f"~ maildir.k.mueller@example.net: interrupted apply: {words.format(new=new)}; apply resumes it" in text
    assert "changed outside" not in text
    assert planned.to_dict()["changes"][0]["interrupted"] == change.interrupted
    planned, result = apply(renamed, root)
    assert result.ok, [o.error for o in result.failed]
    assert (new / "Maildir" / "new" / "1.eml").read_bytes() == b"mail" and not old.exists()
    marker = store.read_marker(str(new))
    assert marker is not None and marker["address"] == "k.mueller@example.net" and "moving" not in marker
    assert plan(renamed, root).empty


def test_a_home_renamed_by_hand_is_still_drift(tmp_path: Path, root: Path) -> None:
    apply(estate(tmp_path, BOXES), root)
    os.rename(root / "example.net" / "karl", root / "example.net" / "k.mueller")  # no intent record
    renamed = estate(tmp_path / "v2", {"anna": "", "k.mueller": "previous: [karl]"})
    (change,) = plan(renamed, root).changes
    assert change.drift == "changed outside ispctl" and change.interrupted is None
    _planned, result = apply(renamed, root)
    assert result.ok and plan(renamed, root).empty


def test_an_owner_changed_by_hand_is_drift_and_is_put_back(tmp_path: Path, root: Path) -> None:
    apply(estate(tmp_path, BOXES), root)
    home = root / "example.net" / "anna"
    os.chown(home, 1234, 1234)
    planned, result = apply(tmp_path / "estate", root)
    (change,) = planned.changes
    assert change.drift == "changed outside ispctl" and [a.name for a in change.attrs] == ["gid", "uid"]
    assert result.ok and (home.stat().st_uid, home.stat().st_gid) == (5000, 5000)
    assert plan(tmp_path / "estate", root).empty


def test_a_new_mail_owner_is_given_every_file(tmp_path: Path, root: Path) -> None:
    apply(estate(tmp_path, BOXES), root)
    letter = root / "example.net" / "anna" / "Maildir" / "new" / "1.eml"
    letter.write_bytes(b"x")
    planned, result = apply(tmp_path / "estate", root, ISPCTL_MAIL_UID="6000", ISPCTL_MAIL_GID="6001")
    assert len(planned.changes) == 2 and all(c.action == "update" for c in planned.changes)
    assert result.ok and (letter.stat().st_uid, letter.stat().st_gid) == (6000, 6001)
    assert plan(tmp_path / "estate", root, ISPCTL_MAIL_UID="6000", ISPCTL_MAIL_GID="6001").empty


def test_mail_ispctl_did_not_make_is_never_taken_over_unless_adopted(tmp_path: Path, root: Path) -> None:
    legacy = root / "example.net" / "karl" / "Maildir" / "cur"
    legacy.mkdir(parents=True)
    (legacy / "old.eml").write_bytes(b"from the old system")
    planned, result = apply(estate(tmp_path, BOXES), root)
    outcome = {o.change.address: o for o in result.outcomes}
    assert outcome["maildir.anna@example.net"].status == "ok"  # independent changes carry on
    failed = outcome["maildir.karl@example.net"]
    assert failed.status == "failed" and "ispctl did not create it" in (failed.error or "")
    assert (legacy / "old.eml").read_bytes() == b"from the old system"
    # The documented adoption: a marker with the address and no fingerprint.
    (root / "example.net" / "karl" / ".ispctl-maildir").write_text(json.dumps({"address": "karl@example.net"}))
    planned, result = apply(tmp_path / "estate", root)
    (change,) = planned.changes
    assert (change.action, change.drift) == ("update", "created outside ispctl")
    assert result.ok and (legacy / "old.eml").stat().st_uid == 5000
    assert plan(tmp_path / "estate", root).empty


def test_a_narrowed_plan_still_finds_a_home_moved_by_hand_into_another_domain(tmp_path: Path, root: Path) -> None:
    """A home is its marker's, wherever it lies: the mail store reads every marker even for a
    plan narrowed to one domain (no ``_read_within``), so a home moved by hand out of the
    domain's directory is still planned as a move back, never as a new, empty home."""
    from ispctl.reconciler.engine.scope import Scope, apply_scope
    from ispctl.reconciler.views.text import plan_json

    body = "domain: {0}\nmailboxes:\n  anna:\n    password: \"{1}\"\n  karl:\n    password: \"{1}\"\n"
    two = write_estate(tmp_path / "two", {"acme/tenant.yaml": "name: Acme\n",
                                          "acme/example.net.yaml": body.format("example.net", HASH),
                                          "acme/example.org.yaml": body.format("example.org", HASH)})
    apply(two, root)
    (root / "example.net" / "anna").rename(root / "example.org" / "anna-moved")
    for anchors in ({"domain.example.net"}, {"domain.example.org"}, {"tenant.acme"}):
        scope = Scope(anchors=frozenset(anchors), everything=False)
        with open_session(two, env(root)) as full, open_session(two, env(root)) as narrowed:
            expected = apply_scope(full.plan(), scope, full.compiled, full.live)
            got = apply_scope(narrowed.plan(anchors=scope.anchors), scope, narrowed.compiled, narrowed.live)
            assert plan_json(got) == plan_json(expected), anchors
            if "domain.example.net" in anchors:
                (change,) = got.changes
                assert (change.address, change.action, change.drift) == (
                    "maildir.anna@example.net", "update", "changed outside ispctl")


def test_outside_a_cluster_the_mail_store_reconciles_every_maildir(tmp_path: Path) -> None:
    from ispctl.providers.mailstore.provider import MailStoreProvider
    from ispctl.reconciler.engine.resources import Resource

    maildir = Resource("maildir", "a@b.example", {"host": "mx2"})
    alone = MailStoreProvider(str(tmp_path / "vmail"), str(tmp_path / "archive"))
    assert alone.reconciles_all() and alone.reconciles(maildir)
    placed = MailStoreProvider(str(tmp_path / "vmail"), str(tmp_path / "archive"), host="mx1")
    assert not placed.reconciles_all() and not placed.reconciles(maildir)
