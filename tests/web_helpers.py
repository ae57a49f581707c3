"""Shared helpers for the web provider's tests: site resources as the design's contract shapes
them (built here directly, not compiled from a domain file) and a layout below a temp dir."""

from __future__ import annotations

from pathlib import Path

from ispctl.providers.web.render import SECRET, Layout
from ispctl.reconciler.contract import Resource, Value

# Apache's $apr1$ (MD5) hash of "s3cret" for user alice, made with `htpasswd -nbm`.
ALICE_HASH = "$apr1$pjl0q13Z$q4M6Pj6hRbF1wCwKbzjyQ."


def layout(root: Path, *, http_port: int = 80, https_port: int = 443, run_dir: str | None = None,
           listen_owner: str = "www-data", listen_group: str = "www-data") -> Layout:
    return Layout(
        sites_dir=str(root / "sites"), pools_dir=str(root / "pools"), web_root=str(root / "www"),
        archive_dir=str(root / "archive"), certs_dir=str(root / "certs"), challenge_dir=str(root / "challenge"),
        run_dir=run_dir or str(root / "run"), http_port=http_port, https_port=https_port,
        listen_owner=listen_owner, listen_group=listen_group,
    )


def site(lay: Layout, host: str, tenant: str = "acme", **attrs: Value) -> Resource:
    """A site of ``tenant`` below the layout's web root, with the contract's attributes."""
    home = f"{lay.web_root}/{tenant}"
    values: dict[str, Value] = {
        "aliases": None, "docroot": f"{home}/{host}/htdocs", "home": home, "user": f"web-{tenant}",
        "uid": 20001, "gid": 20001, "redirects": None, "https": "off", "cert_file": None, "key_file": None,
        "hsts": None, "php": False, "php_max_children": None, "php_memory_limit": None, "protected": None,
        "status": "active", "quota": None,
    }
    values.update(attrs)
    domain = host.split(".", 1)[1] if host.count(".") > 1 else host
    return Resource("site", host, values, parent=f"domain.{domain}", sensitive=frozenset({SECRET}))
