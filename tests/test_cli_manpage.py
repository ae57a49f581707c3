"""``ispctl man``: the manual page lists every command with its options and example, and man reads it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import typer.main
from ldap_helpers import run_cli
from typer._click.core import Context
from typer.core import TyperGroup

from ispctl.reconciler import __version__
from ispctl.reconciler.cli import app as cli
from ispctl.reconciler.cli.manpage import commands, escape


def _page() -> str:
    done = run_cli(None, "man")
    assert done.exit_code == 0, done.output
    return done.stdout


def _unescape(roff: str) -> str:
    return roff.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


def test_the_page_has_every_command_with_its_options_and_example() -> None:
    page = _unescape(_page())
    assert page.startswith(f'.TH ISPCTL 1 "" "ispctl {__version__}" "User Commands"\n')
    root = typer.main.get_command(cli.build_app())
    assert isinstance(root, TyperGroup)
    listed = 0
    for words, command, ctx in commands(root, Context(root, info_name="ispctl")):
        heading = f'.SS "ispctl {" ".join(words)} '
        assert heading in page, words
        section = page[page.index(heading):]
        section = section[:section.find("\n.SS ", 1)] if "\n.SS " in section[1:] else section
        for param in command.get_params(ctx):
            for name in param.opts:
                if name.startswith("-"):
                    assert name in section, (words, name)
        if not isinstance(command, TyperGroup):
            example = section[section.index("Example:\n.RS\n.nf\n"):].split("\n")[3]
            assert f"ispctl {' '.join(words)}" in example, words
        listed += 1
    assert listed >= 60  # the core's, the services' and the provisioning commands
    for section in ("NAME", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT"):
        assert f"\n.SH {section}\n" in page
    assert "--errors FORMAT" in page.replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


def test_man_reads_it_without_a_warning(tmp_path: Path) -> None:
    page = tmp_path / "ispctl.1"
    written = run_cli(None, "man", "--out", str(page))
    assert written.exit_code == 0
    assert page.read_text(encoding="utf-8") == _page()
    # groff's warnings (-ww) for anything it cannot take as written: an unknown request, a bad escape.
    checked = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                             check=False)
    assert (checked.returncode, checked.stderr) == (0, "")
    shown = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, check=False,
                           env={**os.environ, "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"})
    assert shown.returncode == 0
    text = re.sub(r".\x08", "", shown.stdout)  # overstrike bold/underline, where man still uses it
    assert "ispctl plan [OPTIONS]" in text
    assert "--changed-since REF" in text
    assert "ispctl render dovecot --out /etc/dovecot" in text


def test_roff_escapes_what_would_be_read_as_a_request() -> None:
    assert escape("-d") == "\\-d"
    assert escape("a\\b") == "a\\eb"
    assert escape("x\n.TH not a request\n'also") == "x\n\\&.TH not a request\n\\&'also"
