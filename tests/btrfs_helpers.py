"""A real btrfs for the web quota tests: an image file on a loop device, mounted in a fresh
world-traversable directory (Apache's workers and the sites' PHP users must reach it).

``btrfs_mount`` unmounts it and detaches its loop device afterwards, whatever happened; it
skips the test only when this machine cannot loop-mount at all (a container without loop
devices), never because btrfs-progs is missing (``.ci/setup`` installs it)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MiB = 1024**2


def detach(image: Path) -> None:
    """Detach every loop device still backed by ``image``."""
    attached = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True, check=False).stdout
    for line in attached.splitlines():
        subprocess.run(["losetup", "-d", line.split(":", 1)[0]], check=False)


def unmount(mount_point: Path) -> None:
    if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)  # busy: out of the tree now


@contextmanager
def btrfs_mount(workdir: Path, quotas: bool = True, size: int = 300 * MiB) -> Iterator[Path]:
    """A fresh btrfs (an image in ``workdir``), quotas on unless ``quotas`` is False."""
    image = workdir / "btrfs.img"
    with open(image, "wb") as handle:
        handle.truncate(size)
    subprocess.run(["mkfs.btrfs", "-q", "-f", str(image)], check=True, capture_output=True)
    mount_point = Path(tempfile.mkdtemp(prefix="ispctl-test-btrfs-"))
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True, text=True,
                             check=False)
    if mounted.returncode != 0:
        detach(image)
        mount_point.rmdir()
        pytest.skip(f"this machine cannot loop-mount a btrfs image (no loop devices?): {mounted.stderr.strip()}")
    try:
        if quotas:
            subprocess.run(["btrfs", "quota", "enable", str(mount_point)], check=True, capture_output=True)
        mount_point.chmod(0o755)
        yield mount_point
    finally:
        unmount(mount_point)
        detach(image)
        mount_point.rmdir()
