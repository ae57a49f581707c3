"""What a command line's --set values mean."""

from __future__ import annotations

import pytest

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision.request import assignments


def test_values_are_yaml_flow_values_and_other_text_is_taken_as_written() -> None:
    assert assignments(["limits.max_domains=3", "aliases=[www, shop]", "php=on", "quota=2 GiB", "hsts=",
                        "password={CRYPT}$6$abc$def", "name=a=b"]) == {
        "limits.max_domains": 3, "aliases": ["www", "shop"], "php": "on", "quota": "2 GiB", "hsts": None,
        "password": "{CRYPT}$6$abc$def", "name": "a=b"}


def test_a_pair_without_a_key_is_refused() -> None:
    with pytest.raises(IspctlError, match="expected KEY=VALUE"):
        assignments(["=3"])
