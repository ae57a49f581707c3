"""The web benchmark runs end to end at a small size (its figures are never asserted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench import web

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/sbin/apache2").exists(),
                                reason="needs root, apache2 and php8.2-fpm (.ci/setup)")


def test_the_benchmark_applies_and_reports_both_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    assert web.main(["--sites", "6", "--php-every", "3", "--repeat", "1"]) == 0
    out, err = capsys.readouterr()
    assert "apache2 -t of the same files" in out and out.count("x wall") == 3
    # One reload per apply; only the first changes pools (the others change vhosts only).
    assert "reloads ['php-fpm', 'apache', 'apache', 'apache']" in err
