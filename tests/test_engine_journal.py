"""The engine's move journal (reconciler/engine/journal.py), as the mail and web moves use it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ispctl.providers.dovecot.move import MoveError as MailMoveError
from ispctl.providers.dovecot.move import mail_journal
from ispctl.providers.web.move import MoveError as SiteMoveError
from ispctl.providers.web.move import site_journal
from ispctl.reconciler.contract import (
    MoveJournal,
    PendingMove,
    ProviderError,
    Resource,
    interrupted_hosts,
    moving_attrs,
    placed_host,
)

ODD = "o'neil+x@acme.example"


def test_the_journal_survives_a_restart_and_refuses_a_damaged_record(tmp_path: Path) -> None:
    journal = mail_journal(tmp_path / "moves")
    assert journal.pending() == {}
    journal.record(ODD, "mx1", "mx2", "copy")
    written = journal.record(ODD, "mx1", "mx2", "switched")  # overwrites, one record per subject
    again = mail_journal(tmp_path / "moves").pending()
    assert again == {ODD: PendingMove(ODD, "mx1", "mx2", "switched")} == {ODD: written}
    assert again[ODD].describe() == f"moving {ODD} from mx1 to mx2 stopped after the directory was switched"
    journal.clear(ODD)
    journal.clear(ODD)  # twice: the second finds nothing, no error
    assert journal.pending() == {} and not list((tmp_path / "moves").iterdir())
    (tmp_path / "moves" / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MailMoveError, match=r"the move journal .*x.json cannot be read"):
        journal.pending()


def test_records_keep_the_format_each_service_wrote_before_the_journal_was_shared(tmp_path: Path) -> None:
    # Files as the mail and web moves wrote them when each had its own journal: an apply
    # interrupted before the upgrade is still found and finished after it.
    mail, web = tmp_path / "mail", tmp_path / "web"
    for folder, record in ((mail, {"address": ODD, "source": "mx1", "target": "mx2", "step": "copy"}),
                           (web, {"site": "a.example", "source": "w1", "target": "w2", "step": "switched"})):
        folder.mkdir()
        subject = str(record.get("address") or record["site"])
        name = hashlib.sha256(subject.encode()).hexdigest()[:32] + ".json"
        (folder / name).write_text(json.dumps(record), encoding="utf-8")
    [mailed] = mail_journal(mail).pending().values()
    assert mailed.describe() == f"moving {ODD} from mx1 to mx2 stopped before the directory was switched"
    [site] = site_journal(web).pending().values()
    assert site.describe() == "moving site a.example from w1 to w2 stopped after the directory was switched"
    # Clearing finds the file the old code named, and a new record is the old shape again.
    site_journal(web).clear("a.example")
    assert not list(web.iterdir())
    site_journal(web).record("a.example", "w1", "w2", "copy")
    [path] = web.iterdir()
    assert json.loads(path.read_text(encoding="utf-8")) == {"site": "a.example", "source": "w1", "target": "w2",
                                                            "step": "copy"}


def test_a_damaged_record_is_the_services_own_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{", encoding="utf-8")
    with pytest.raises(SiteMoveError, match=f"the site move journal {tmp_path / 'x.json'} cannot be read"):
        site_journal(tmp_path).pending()
    (tmp_path / "x.json").write_text(json.dumps({"address": ODD, "source": "mx1", "target": "mx2", "step": "copy"}),
                                     encoding="utf-8")
    with pytest.raises(SiteMoveError, match="'site'"):  # another service's record is not read as a site's
        site_journal(tmp_path).pending()
    with pytest.raises(ProviderError, match="cannot be read") as raised:
        MoveJournal(tmp_path, field="name").pending()
    assert type(raised.value) is ProviderError
    assert not list(MoveJournal(tmp_path / "none").pending())  # no folder yet: nothing pending, none made
    assert not (tmp_path / "none").exists()


def test_a_placed_objects_live_side_shows_an_unfinished_move_until_it_is_cleared(tmp_path: Path) -> None:
    journal = site_journal(tmp_path)
    journal.record("a.example", "w1", "w2", "switched")
    live = Resource("webhost", "a.example", moving_attrs("w2", journal.pending().get("a.example")))
    assert live.attrs == {"host": "w2", "moving": "w1 -> w2"}
    assert placed_host(live) == "w2" and interrupted_hosts(live) == ("w1", "w2")
    journal.clear("a.example")
    settled = Resource("webhost", "a.example", moving_attrs("w2", journal.pending().get("a.example")))
    assert settled.attrs == {"host": "w2"} and interrupted_hosts(settled) == ()
    with pytest.raises(ProviderError, match="webhost.a.example has no host"):
        placed_host(Resource("webhost", "a.example", {}))
