"""A web site and its FTP login have no planned rename yet: ``ispctl site rename`` and
``ispctl ftp-site rename`` (and their batch operations) are refused with why and what to do
instead, and nothing is written (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

from provision_helpers import NW, edit, example


def test_site_and_ftp_site_rename_are_refused_saying_how_and_nothing_is_written(tmp_path: Path) -> None:
    root = example(tmp_path)
    assert "shop:" in (root / NW).read_text(encoding="utf-8")
    result, diff = edit(root, "site", "rename", "shop.northwind.example", "store.northwind.example")
    assert result.exit_code == 1 and diff == {}
    assert "cannot be renamed as a planned rename" in result.output and "archived" in result.output
    assert edit(root, "site", "add", "www.southbay.example")[0].exit_code == 0
    added = edit(root, "ftp-site", "add", "www.southbay.example", "--password-stdin", input="ftp pw 1\n")[0]
    assert added.exit_code == 0, added.output
    result, diff = edit(root, "ftp-site", "rename", "www.southbay.example", "web.southbay.example")
    assert result.exit_code == 1 and diff == {} and "follows its site" in result.output


def test_the_batch_operation_is_refused_the_same_way(tmp_path: Path) -> None:
    root = example(tmp_path)
    line = json.dumps({"op": "site.rename", "object": "shop.northwind.example", "new": "store.northwind.example"})
    result, diff = edit(root, "batch", "-", input=line + "\n")
    assert result.exit_code == 1 and diff == {} and "copy the files into its docroot" in result.output
