"""Generated files of a site: where they live (content-addressed, beside the vhosts), the vhost
lines serving them, and paths a vhost could not safely name refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_helpers import layout, site

from ispctl.providers.web import files, generated
from ispctl.providers.web.render import render
from ispctl.reconciler.contract import ProviderError


def test_files_are_named_by_their_content_beside_the_vhosts(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    one = site(lay, "mta-sts.acme.example", generated=("/.well-known/mta-sts.txt\nversion: STSv1\r\n",))
    two = site(lay, "mta-sts.acme.example", generated=("/.well-known/mta-sts.txt\nversion: STSv1\r\nmode: none\r\n",))
    [(path, first, content)] = generated.entries(one, lay.sites_dir)
    [(_, second, _)] = generated.entries(two, lay.sites_dir)
    assert (path, content) == ("/.well-known/mta-sts.txt", "version: STSv1\r\n")
    assert first.startswith(f"{lay.sites_dir}/.generated/mta-sts.acme.example/") and first != second
    vhost = render(one, lay, cert_exists=False).vhost
    assert f'    Alias "/.well-known/mta-sts.txt" "{first}"\n' in vhost
    assert '        AddType "text/plain" .txt\n' in vhost
    assert ".generated" not in render(site(lay, "plain.acme.example"), lay, cert_exists=False).vhost


@pytest.mark.parametrize("path", ["/../etc/passwd.txt", "relative.txt", "/a b.txt", "/page.php", '/x".txt'])
def test_a_path_a_vhost_cannot_safely_alias_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ProviderError, match="is not a plain .xml or .txt path"):
        render(site(layout(tmp_path), "x.acme.example", generated=(f"{path}\nbody",)), layout(tmp_path), False)


def test_writing_keeps_only_the_current_files(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    Path(lay.sites_dir).mkdir()
    for text in ("old\n", "new\n"):
        files.write_generated(site(lay, "a.acme.example", generated=(f"/p.txt\n{text}",)), lay.sites_dir)
    kept = list(Path(lay.sites_dir, ".generated", "a.acme.example").iterdir())
    assert [f.read_text() for f in kept] == ["new\n"] and kept[0].stat().st_mode & 0o777 == 0o644
    files.write_generated(site(lay, "a.acme.example"), lay.sites_dir)  # none any more
    assert not list(Path(lay.sites_dir, ".generated", "a.acme.example").iterdir())
