"""ispctl's Sieve scripts against a real Dovecot (Pigeonhole) fed over LMTP, and a real slapd.

The estate, slapd and Dovecot come from ``tests/sieve_helpers.py``: Dovecot runs the files
``ispctl render dovecot`` ships, and keeps what it sends (vacation replies, redirects) in an
outbox the tests count. Vacation dates are set relative
to today, two days off, so no test depends on the hour it runs at.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.dovecot.sandbox.daemon import default_mail_owner
from ispctl.providers.sieve.provider import SieveError, SieveProvider
from ispctl.providers.sieve.script import FILE_NAME
from ispctl.reconciler.contract import Resource
from tests.ldap_helpers import edit_yaml
from tests.sieve_helpers import DOMAIN, HARTCOLE, Mail, ManageSieve, Refused, running

DEMO_PASSWORD = "ispctl-demo"  # every example mailbox's (README, "Quick start")


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    with running(tmp_path_factory.mktemp("sieve")) as prepared:
        yield prepared


def _vacation(start: int | None, end: int | None, days: int = 1) -> dict[str, Any]:
    today = dt.date.today()
    out: dict[str, Any] = {"subject": "Out of office", "text": "Back soon.\nUrgent: call the desk.", "days": days}
    if start is not None:
        out["start"] = (today + dt.timedelta(days=start)).isoformat()
    if end is not None:
        out["end"] = (today + dt.timedelta(days=end)).isoformat()
    return out


def test_vacation_replies_once_per_sender_per_interval_and_only_between_the_dates(mail: Mail) -> None:
    mail.mailbox("m.chen", lambda box: box.__setitem__("vacation", _vacation(-2, 2)))
    mail.mailbox("d.osei", lambda box: box.__setitem__("vacation", _vacation(2, 9)))     # not yet
    mail.mailbox("s.novak", lambda box: box.__setitem__("vacation", _vacation(-9, -2)))  # over
    out = mail.apply()
    assert "sieve.m.chen@hartcole.example" in out
    mail.clear_sent()
    for n in range(3):
        mail.deliver("alice@elsewhere.example", "m.chen", f"first {n}")
    mail.deliver("bob@elsewhere.example", "m.chen", "from bob")
    for local in ("d.osei", "s.novak"):
        mail.deliver("alice@elsewhere.example", local, f"to {local}")
    replies = mail.sent()
    assert sorted(r["X-Envelope-To"] for r in replies) == ["alice@elsewhere.example", "bob@elsewhere.example"]
    assert {r["Subject"] for r in replies} == {"Out of office"}
    assert all(str(r["Auto-Submitted"]).startswith("auto-replied") for r in replies)
    body = replies[0].get_payload(decode=True)
    assert isinstance(body, bytes) and b"Urgent: call the desk." in body
    # Every message was still delivered.
    assert mail.folder("m.chen", "", "first 2") == 1 and mail.folder("s.novak", "", "to s.novak") == 1
    # A mailing list's message gets no reply (Pigeonhole's own rule, unchanged by ispctl).
    mail.clear_sent()
    mail.deliver("list@lists.example", "m.chen", "digest", "List-Id: <news.lists.example>\r\n")
    assert mail.sent() == []


def test_filters_file_forward_with_a_copy_and_discard(mail: Mail) -> None:
    mail.mailbox("j.hart", lambda box: box.__setitem__("filters", [
        {"header": "Subject", "contains": "[invoice]", "fileinto": "Invoices"},
        {"header": "From", "contains": "spam@", "discard": True},
        {"forward": "assistant@elsewhere.example"},
    ]))
    mail.apply()
    mail.clear_sent()
    mail.deliver("shop@elsewhere.example", "j.hart", "[invoice] 42")
    mail.deliver("spam@elsewhere.example", "j.hart", "buy now")
    mail.deliver("client@elsewhere.example", "j.hart", "meeting")
    assert mail.folder("j.hart", "Invoices", "[invoice] 42") == 1
    assert mail.folder("j.hart", "", "[invoice] 42") == 0
    assert mail.folder("j.hart", "", "buy now") == 0
    # Forwarded with a kept copy; filed and discarded messages went nowhere else.
    assert mail.folder("j.hart", "", "meeting") == 1
    forwarded = mail.sent()
    assert [(m["X-Envelope-To"], m["Subject"]) for m in forwarded] == [("assistant@elsewhere.example", "meeting")]


def test_the_users_own_script_is_left_alone_and_still_runs(mail: Mail) -> None:
    home = mail.home("r.cole")
    # What the user's mail client does: upload a script over ManageSieve and make it active.
    client = ManageSieve(mail.dovecot.sieve_port, f"r.cole@{DOMAIN}", DEMO_PASSWORD)
    client.put_active("mine", 'require ["fileinto", "mailbox"];\nif header :contains "Subject" "[club]" '
                              '{ fileinto :create "Club"; }\n')
    client.close()
    own = home / "sieve" / "mine.sieve"
    before = own.read_bytes()
    mail.mailbox("r.cole", lambda box: box.__setitem__("vacation", _vacation(None, None, days=3)))
    mail.apply()
    mail.clear_sent()
    mail.deliver("friend@elsewhere.example", "r.cole", "[club] tonight")
    assert mail.folder("r.cole", "Club", "[club] tonight") == 1     # the user's rule ran
    assert [m["X-Envelope-To"] for m in mail.sent()] == ["friend@elsewhere.example"]  # and ispctl's
    assert own.read_bytes() == before and (home / ".dovecot.sieve").readlink() == Path("sieve/mine.sieve")
    # Removing the vacation removes only ispctl's script, and says so in the plan.
    mail.mailbox("r.cole", lambda box: box.pop("vacation"))
    plan = mail.cli("plan")
    assert "removes ispctl's Sieve script" in plan.stdout and "own Sieve scripts stay" in plan.stdout, plan.output
    mail.apply()
    assert not (home / FILE_NAME).exists() and own.read_bytes() == before
    assert (home / ".dovecot.sieve").is_symlink()
    assert "No changes" in mail.cli("plan").stdout
    client = ManageSieve(mail.dovecot.sieve_port, f"r.cole@{DOMAIN}", DEMO_PASSWORD)
    assert client.command("LISTSCRIPTS") == ['"mine" ACTIVE']  # ispctl's is not the user's to see
    client.close()


def test_managesieve_logins_follow_the_imap_flag(mail: Mail) -> None:
    mail.mailbox("s.novak", lambda box: box.__setitem__("services", {"imap": False}))
    mail.apply()
    with pytest.raises(Refused, match="Authentication failed"):
        ManageSieve(mail.dovecot.sieve_port, f"s.novak@{DOMAIN}", DEMO_PASSWORD)
    ManageSieve(mail.dovecot.sieve_port, f"d.osei@{DOMAIN}", DEMO_PASSWORD).close()
    mail.mailbox("s.novak", lambda box: box.pop("services"))
    mail.apply()
    ManageSieve(mail.dovecot.sieve_port, f"s.novak@{DOMAIN}", DEMO_PASSWORD).close()


def test_a_renamed_mailbox_keeps_its_vacation_in_its_new_home(mail: Mail) -> None:
    mail.mailbox("it", lambda box: box.__setitem__("vacation", _vacation(None, None)))
    mail.apply()
    assert (mail.home("it") / FILE_NAME).exists()

    def rename(data: Any) -> None:
        box = data["mailboxes"].pop("it")
        data["mailboxes"]["helpdesk"] = {**box, "previous": ["it"]}

    edit_yaml(mail.estate / HARTCOLE, rename)
    plan = mail.cli("plan")
    assert "sieve.helpdesk@hartcole.example" in plan.stdout and "0 to destroy" in plan.stdout, plan.output
    mail.apply()
    assert not mail.home("it").exists()
    script = (mail.home("helpdesk") / FILE_NAME).read_text()
    assert script.startswith("# ispctl: Sieve rules of helpdesk@hartcole.example") and "helpdesk@" in script
    mail.clear_sent()
    mail.deliver("someone@elsewhere.example", "helpdesk", "after the rename")
    assert [m["X-Envelope-To"] for m in mail.sent()] == ["someone@elsewhere.example"]
    assert "No changes" in mail.cli("plan").stdout


def test_a_file_ispctl_did_not_write_is_never_replaced(mail: Mail) -> None:
    home = mail.home("reception")
    mail.deliver("x@elsewhere.example", "reception", "makes the home")
    foreign = home / FILE_NAME
    foreign.write_text('keep;\n')
    mail.mailbox("reception", lambda box: box.__setitem__("vacation", _vacation(None, None)))
    result = mail.cli("apply", "--auto-approve", "--force")
    assert result.exit_code != 0 and "was not written by ispctl" in result.output
    assert foreign.read_text() == "keep;\n"
    foreign.unlink()
    mail.apply()
    assert foreign.read_text().startswith("# ispctl: Sieve rules of reception@hartcole.example")


def test_a_script_that_does_not_compile_changes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "store" / DOMAIN / "u"
    home.mkdir(parents=True)
    provider = SieveProvider(str(tmp_path / "store"))
    good = "# ispctl: Sieve rules of u@hartcole.example\nkeep;\n"
    uid, gid = default_mail_owner()
    attrs = {"path": str(home / FILE_NAME), "uid": uid, "gid": gid}
    provider._create(Resource("sieve", "u@hartcole.example", {**attrs, "script": good}))
    assert (home / FILE_NAME).read_text() == good and (home / "ispctl.svbin").exists()
    bad = Resource("sieve", "u@hartcole.example", {**attrs, "script": good + "vacation :nosuchtag;\n"})
    # Pigeonhole's own words: vacation is used without "require".
    said = r"u@hartcole.example: its Sieve script does not compile.*line 3: error: unknown command 'vacation'"
    with pytest.raises(SieveError, match=said):
        provider._update(next(iter(provider.read().values())), bad, ("script",))
    assert (home / FILE_NAME).read_text() == good
    assert sorted(p.name for p in home.iterdir()) == [FILE_NAME, "ispctl.svbin"]
