"""Acceptance of narrowed runs (estate.incremental) under random changes of the example estate
(``incremental_helpers.rich_example``, committed and warmed by a full run): a seeded generator
makes edits that may reach every rule across files (``example_edit``), 1-4 in a row, each
compared with the full run (``incremental_helpers.assert_equivalent``); every other seed a chain
under the snapshot the narrowed runs keep, else the edits pile up. Both ways must be taken.
"""

from __future__ import annotations

import random

import pytest

from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.incremental import Fallback
from tests.incremental_helpers import Warm, box, rich_example

EXAMPLE_FILES = ("northwind/lawfirm/hartcole.example.yaml", "northwind/lawfirm/hartcole.net.yaml",
                 "northwind/northwind.example.yaml", "northwind/bakery/bäckerei-müller.example.yaml",
                 "southbay/southbay.example.yaml", "southbay/school/riverside-school.example.yaml")
HOSTS = ("www", "blog", "dev", "shop.northwind.example", "www.baeckerei-mueller.example", "baeckerei-mueller.example",
         "autoconfig.southbay.example", "x.hartcole.net")
CHILDREN = {"www.northwind.example": "northwind", "lab.northwind.example": "northwind",
            "shop.northwind.example": "northwind", "mail.southbay.example": "southbay",
            "x.hartcole.net": "northwind/lawfirm", "www.baeckerei-mueller.example": "northwind/bakery"}


def example_edit(e: Warm, rng: random.Random) -> str:
    """One random edit of the example (``rich_example``) that may reach any rule across files:
    a forward, alias, catch-all or extra address to any address of the estate (or none, or
    in another spelling), a former address, a mailbox dropped or added, a site answering for
    another file's host, a child zone, a quota, a pin, a record, a domain file deleted or moved."""
    rel = rng.choice([r for r in EXAMPLE_FILES if e.path(r).exists()])
    data = e.load(rel)
    boxes = data.get("mailboxes") or {}
    local = rng.choice(sorted(boxes)) if boxes else "none"
    addresses = ["x@outside.example", "zz@baeckerei-mueller.example", "Noc@NORTHWIND.example"]
    for other in (r for r in EXAMPLE_FILES if e.path(r).exists()):
        found = e.load(other)
        for section in ("mailboxes", "aliases"):
            addresses += [f"{name}@{found['domain']}" for name in found.get(section) or {}]
        addresses.append(f"zz@{found['domain']}")
    kind = rng.choice(["forward", "alias", "catch_all", "extra", "previous", "drop", "add", "site", "child",
                       "quota", "pin", "record", "delete", "move"])
    if kind == "forward" and boxes:
        boxes[local]["forward"] = {"to": [rng.choice(addresses)]}
    elif kind == "alias":
        data.setdefault("aliases", {})[f"l{rng.randrange(9)}"] = [rng.choice(addresses)]
    elif kind == "catch_all":
        data.setdefault("mail", {})["catch_all"] = rng.choice(addresses)
    elif kind == "extra" and boxes:
        boxes[local]["aliases"] = [rng.choice(["zz@hartcole.net", "zz@hartcole.example", "jane@hartcole.net",
                                               "zz@southbay.example", f"zz2@{data['domain']}"])]
    elif kind == "previous":
        former = rng.choice(addresses)
        boxes[f"p{rng.randrange(9)}"] = box(previous=[former.split("@")[0] if rng.random() < 0.5 else former])
    elif kind == "drop" and boxes:
        boxes.pop(local)
    elif kind == "add":
        data.setdefault("mailboxes", {})[f"n{rng.randrange(9)}"] = box()
    elif kind == "site" and "web" in (data.get("services") or []):
        data.setdefault("web", {}).setdefault("sites", {})[rng.choice(["@", "blog"])] = {"aliases": [rng.choice(HOSTS)]}
    elif kind == "child":
        name = rng.choice(sorted(CHILDREN))
        e.write(f"{CHILDREN[name]}/{name}.yaml", {"domain": name, "services": ["dns"]})
        return f"child zone {name}"
    elif kind == "quota" and boxes:
        boxes[local]["quota"] = rng.choice(["100 MiB", "1 GiB", "30 GiB"])
    elif kind == "pin":
        data["placement"] = {"mail_store": rng.choice(["mx1.example.net", "mx2.example.net"])}
    elif kind == "record" and "dns" in data:
        data["dns"].setdefault("records", {})[rng.choice(["www", "shop", "lab", "vpn2"])] = {"A": "192.0.2.7"}
    elif kind == "delete" and "bäckerei" not in rel:
        e.remove(rel)
        return f"delete {rel}"
    elif kind == "move" and "bäckerei" not in rel:
        e.move(rel, rel.replace(".yaml", "-moved.yaml"))
        return f"move {rel}"
    else:
        return f"nothing ({kind} of {rel})"
    e.write(rel, data)
    return f"{kind} {local} of {rel}"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Warm:
    base = tmp_path_factory.mktemp("example")
    keys = rich_example(base / "repo")
    return Warm(base / "repo", base / "cache", kept=(keys,))


EXAMPLE_OUTCOMES: list[bool] = []


@pytest.mark.parametrize("seed", range(16))
def test_random_edits_of_the_example_give_the_full_runs_result(example: Warm, seed: int) -> None:
    """1-4 edits in a row, each compared with the full run; every other seed a chain (the
    snapshot kept by the narrowed runs, an edit with a problem undone), else the edits pile up."""
    rng = random.Random(seed)
    chain = seed % 2 == 0
    try:
        for _ in range(rng.randint(1, 4)):
            before = example.files()
            example_edit(example, rng)
            found = example.compare()
            EXAMPLE_OUTCOMES.append(isinstance(found, Desired))
            if not chain:
                continue
            if isinstance(found, Desired) and example.last is not None:
                example.warm = example.last.resources
            elif isinstance(found, Fallback):
                for path in example.files().keys() - before.keys():
                    path.unlink()
                for path, raw in before.items():
                    path.write_bytes(raw)
    finally:
        example.restore()


def test_random_edits_of_the_example_take_both_ways() -> None:
    if not EXAMPLE_OUTCOMES:
        pytest.skip("the random edits of the example did not run")
    assert len(EXAMPLE_OUTCOMES) // 3 <= sum(EXAMPLE_OUTCOMES) < len(EXAMPLE_OUTCOMES), EXAMPLE_OUTCOMES
