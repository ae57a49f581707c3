"""The Sieve text ispctl writes: its marker, quoting, and that Pigeonhole's sievec compiles every
construct it can produce."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from ispctl.providers.sieve.script import marker_line, owner_of, quoted, render
from ispctl.providers.sieve.settings import Filter, Filters, Vacation


def test_the_marker_names_the_mailbox_and_nothing_else_counts_as_ours() -> None:
    text = render("a@b.example", Vacation(subject="s", text="t"), None)
    assert text.startswith(marker_line("a@b.example") + "\n") and owner_of(text) == "a@b.example"
    assert owner_of("keep;\n") is None
    assert owner_of("require \"vacation\";\n# ispctl: Sieve rules of a@b.example\n") is None  # not the first line


def test_quoting_escapes_only_backslash_and_quote() -> None:
    assert quoted('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\nd"'


def test_sievec_compiles_everything_ispctl_writes(tmp_path: Path) -> None:
    vacation = Vacation(subject='Away "now" \\ then', text="Line one\n\"quoted\"\n.\nend", start=dt.date(2026, 1, 1),
                        end=dt.date(2026, 1, 9), days=2, addresses=("x@b.example",))
    filters = Filters((Filter(header="Subject", contains='a"b', fileinto="Archive.2026"),
                       Filter(header="X-Spam", contains="yes", discard=True),
                       Filter(forward="c@d.example"), Filter(forward="e@f.example", keep_copy=False)))
    for text in (render("a@b.example", vacation, filters), render("a@b.example", Vacation(subject="s", text="t"), None),
                 render("a@b.example", None, filters)):
        source = tmp_path / "t.sieve"
        source.write_text(text)
        done = subprocess.run(["sievec", str(source), str(tmp_path / "t.svbin")], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, (text, done.stderr)
