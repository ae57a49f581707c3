"""ispctl installs under a name of its own: ispctl.reconciler and ispctl.providers.

The repository keeps its layout (reconciler/, providers/ at the top); setuptools maps them
under ``ispctl``. Top-level packages named ``reconciler`` or ``providers`` would clash with
anything else so named in site-packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("reconciler", "providers")


def _folders() -> set[str]:
    found = set()
    for top in SOURCES:
        for init in (REPO / top).rglob("__init__.py"):
            found.add("ispctl." + ".".join(init.parent.relative_to(REPO).parts))
    return found


def test_every_package_folder_is_listed_and_nothing_else() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"ispctl.reconciler": "reconciler", "ispctl.providers": "providers"}
    assert set(config["packages"]) == _folders()
    # A folder of modules without __init__.py would be left out of the list, and of a wheel.
    for top in SOURCES:
        for module in (REPO / top).rglob("*.py"):
            assert (module.parent / "__init__.py").exists(), f"{module.parent} holds modules but is not a package"


def test_the_wheel_holds_only_ispctl_and_all_of_it(tmp_path: Path) -> None:
    # Built from a copy: two test runs side by side must not share setuptools' build/ folder.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for top in SOURCES:
        shutil.copytree(REPO / top, source / top, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                           str(source)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("ispctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"ispctl"}
    expected = {f"ispctl/{path.relative_to(REPO).as_posix()}"
                for top in SOURCES for path in (REPO / top).rglob("*") if path.suffix in (".py", ".ldif")}
    assert expected <= set(names)
    assert not any(name.startswith(("reconciler/", "providers/")) for name in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ispctl = ispctl.reconciler.cli.app:main" in entry_points


def test_outside_a_checkout_only_the_ispctl_names_import(tmp_path: Path) -> None:
    probe = ("import importlib.util as u, sys; "
             "print(u.find_spec('ispctl.reconciler') is not None, u.find_spec('ispctl.providers') is not None, "
             "u.find_spec('reconciler') is None, u.find_spec('providers') is None)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]
