"""The Pigeonhole and quota-warning part of ``ispctl render dovecot``, against a real Dovecot.

A mailbox is filled over LMTP past the lower threshold of ``mail.quota_warnings``: Dovecot
runs the rendered ``ispctl-quota-warning.sh``, which delivers one notice into its INBOX.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.sieve.dovecot import SCRIPT_FILE, settings_text, warning_script
from tests.ldap_helpers import edit_yaml
from tests.sieve_helpers import HARTCOLE, Mail, running


def test_thresholds_are_rendered_highest_first_with_the_script() -> None:
    text = settings_text("/etc/dovecot", [80, 95])
    assert "quota_warning = storage=95%% quota-warning 95 %u" in text
    assert "quota_warning2 = storage=80%% quota-warning 80 %u" in text
    assert f"executable = script /etc/dovecot/{SCRIPT_FILE}" in text
    assert "sieve_before = ~/ispctl.sieve" in text
    none = settings_text("/etc/dovecot", [])
    assert "quota_warning" not in none and "service quota-warning" not in none
    assert "-c /etc/dovecot/dovecot.conf" in warning_script("/etc/dovecot")


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mail]:
    def small_quota(estate: Path) -> None:
        edit_yaml(estate / HARTCOLE, lambda d: d["mailboxes"]["it"].__setitem__("quota", "20 KiB"))

    with running(tmp_path_factory.mktemp("quota"), small_quota) as prepared:
        yield prepared


def test_filling_a_mailbox_past_80_percent_sends_one_warning(mail: Mail) -> None:
    subject = "Your mailbox is 80% full"
    body = "x" * 5500
    for n in range(2):  # about 12 KiB of 20: below 80 %
        mail.deliver("a@elsewhere.example", "it", f"part {n}", body=body)
    assert mail.folder("it", "", subject) == 0
    mail.deliver("a@elsewhere.example", "it", "part 2", body=body)  # about 18 KiB: past 80 %
    assert mail.arrived("it", subject, 1)
    mail.deliver("a@elsewhere.example", "it", "part 3", body="y" * 50)  # still between 80 and 95 %
    mail.deliver("a@elsewhere.example", "it", "part 4", body="y" * 50)
    # Dovecot's quota plugin runs the script (program_client_run, which waits) before a delivery
    # is acknowledged, so any notice parts 3 and 4 caused is in before "last" is.
    mail.deliver("a@elsewhere.example", "it", "last", body="z")
    assert mail.arrived("it", "last", 1)
    assert mail.folder("it", "", subject) == 1
    assert mail.folder("it", "", "Your mailbox is 95% full") == 0
    notice = next(p for p in (mail.home("it") / "Maildir" / "new").iterdir() if subject in p.read_text())
    assert "To: <it@hartcole.example>" in notice.read_text() and "Auto-Submitted: auto-generated" in notice.read_text()
