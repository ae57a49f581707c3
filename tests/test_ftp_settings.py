"""The ``ftp:`` sections: limits in what pure-ftpd counts, paths it can chroot into."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ispctl.providers.ftp.settings import MIB, FtpLimits, FtpSettings


def test_quota_is_whole_mib_rounded_up_and_unset_limits_take_the_defaults() -> None:
    assert FtpLimits(quota=MIB).quota_mb == 1 and FtpLimits(quota=MIB + 1).quota_mb == 2
    assert FtpLimits().quota_mb is None
    merged = FtpLimits(quota_files=3).over(FtpLimits(quota_files=9, upload_kbps=7))
    assert (merged.quota_files, merged.upload_kbps, merged.download_kbps) == (3, 7, None)


@pytest.mark.parametrize("fields", [{"quota": MIB - 1}, {"quota_files": 0}, {"upload_kbps": 0}, {"download_kbps": -1}])
def test_zero_and_below_a_mib_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        FtpLimits(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("root", ["srv/ftp", "/srv/./ftp", "/srv/../etc", "/", "/srv//ftp", "/srv/ftp\nx"])
def test_root_must_be_a_plain_absolute_path(root: str) -> None:
    with pytest.raises(ValidationError):
        FtpSettings(root=root)
    assert FtpSettings(root="/srv/ftp/").root == "/srv/ftp"
