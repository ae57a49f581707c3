"""The fault suite's estates: A (the example estate) and B (A with a few dozen changes of
every kind: creates, updates, renames, moves, archives, deletes, DNS records and zones)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
HASH = ("{CRYPT}$6$rounds=5000$faultsuitesalt00$hNpfK7LV1mYr93jdQ/S4nLyaKriSi27ZQX4g/NPJcNXk6hxjA8ukE2NJMS5p."
        "QZW7nsnCWlK4svxe6XTuJUKd0")


def _edit(path: Path, change: Any) -> None:
    yaml = YAML()
    yaml.width = 4096
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)


def estate_a(target: Path) -> Path:
    shutil.copytree(REPO / "desired-state", target)
    return target


def estate_b(target: Path) -> Path:
    root = estate_a(target)
    tenants = root / "tenants"

    def northwind(d: Any) -> None:
        boxes = d["mailboxes"]
        boxes["noc"]["quota"] = "6 GiB"                                  # update
        boxes["helpdesk"] = boxes.pop("support")                        # rename (directory + maildir)
        boxes["helpdesk"]["previous"] = ["support"]
        del boxes["billing"]                                            # delete: entry destroyed, mail archived
        for n in range(6):                                              # creates: entry + maildir
            boxes[f"staff{n}"] = {"name": f"Staff {n}", "password": HASH}
        d["aliases"]["sales"] = ["ines.okafor"]                         # alias update
        d["aliases"]["team"] = ["noc", "ines.okafor"]                   # alias create
        records = d["dns"]["records"]
        records["vpn"] = {"A": "198.51.100.8", "AAAA": "2001:db8:100::8"}  # record updates
        del records["status"]                                           # record delete
        for n in range(6):
            records[f"host{n}"] = {"A": f"198.51.100.{30 + n}"}         # record creates

    _edit(tenants / "northwind/northwind.example.yaml", northwind)
    _edit(tenants / "southbay/school/tenant.yaml", lambda d: d.__setitem__("contact", "head@riverside-school.example"))
    (tenants / "northwind/lawfirm/hartcole.example.yaml").unlink()      # a domain, its mail and its zone go
    new = tenants / "northwind/faultco"
    new.mkdir()
    (new / "tenant.yaml").write_text("name: Fault Co\n", encoding="utf-8")
    boxes = "".join(f"  user{n}:\n    password: \"{HASH}\"\n" for n in range(5))
    (new / "faultco.example.yaml").write_text(
        "domain: faultco.example\nservices: [mail, dns]\nmailboxes:\n" + boxes
        + "aliases:\n  postmaster: user0\ndns:\n  records:\n    www: {A: 192.0.2.7}\n", encoding="utf-8")
    return root
