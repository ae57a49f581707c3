"""Fixtures with a real Apache 2.4 and php-fpm 8.2 (``providers/web/sandbox``), registered in conftest.py.

``web``      an Apache and a php-fpm sharing one public dir, started; ``web.env()`` has every
             ``ISPCTL_WEB_*`` variable the web provider needs. Stopped afterwards.
``apache``   an Apache alone; ``php_fpm`` a php-fpm alone (both on ``web_public``).
``web_public`` a world-traversable directory (Apache's workers run as www-data and PHP pools as
             the sites' uids, none of which can enter pytest's 0700 temp dir); removed afterwards.

The daemons' configs stay under ``tmp_path``, so their command lines name this session's temp
dir and the session-end check in conftest.py finds any left running.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.web.sandbox.apache import ApacheInstance
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.providers.web.sandbox.phpfpm import PhpFpmInstance


@pytest.fixture
def web_public() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ispctl-test-web-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def apache(tmp_path: Path, web_public: Path) -> Iterator[ApacheInstance]:
    instance = ApacheInstance(tmp_path / "apache", public=web_public)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def php_fpm(tmp_path: Path, web_public: Path) -> Iterator[PhpFpmInstance]:
    instance = PhpFpmInstance(tmp_path / "php-fpm", public=web_public)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def web(tmp_path: Path, web_public: Path) -> Iterator[WebServers]:
    servers = WebServers(tmp_path / "web", public=web_public)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()
