"""Write a synthetic but realistic estate of any size, for the benchmark.

Shape (for ``domains`` D and ``mailboxes`` M):

* ``max(1, D // 100)`` resellers; each owns its first domain itself and hands the rest
  out to clients of ~4 domains each, so the tree is reseller -> client -> domain as in
  real ISPs;
* the M mailboxes are spread evenly over the D domains (~10 per domain at the default
  10,000 / 1,000), with a mix of quotas, a few suspended accounts, extra addresses,
  forwards and per-mailbox service overrides;
* each domain with mailboxes has ``postmaster`` and ``info`` aliases, larger ones also a
  ``team`` distribution list; some domains are ``nodns`` or ``slave``;
* tenants carry limits that the estate stays within, so the estate validates.

Every mailbox reuses one precomputed ``{CRYPT}$6$`` hash: hashing 10,000 passwords
would take longer than everything we want to measure, and the engine never looks
inside a hash beyond checking its form.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ispctl.reconciler.estate.passwords import hash_password

BENCH_PASSWORD = "bench-password"
# The lowest cost crypt(3) allows: the hash only has to have the right form.
_HASH_ROUNDS = 1000
DOMAINS_PER_RESELLER = 100
DOMAINS_PER_CLIENT = 4
MAIL_ROOT = "/var/vmail"

# First and last names are disjoint sets so "<last>.<first>" (a mailbox's extra
# address) can never equal another mailbox's "<first>.<last>" in the same domain.
_FIRST = ("anna", "ben", "carla", "dmitri", "elif", "farid", "greta", "hugo", "ines", "jonas",
          "kaori", "lars", "maya", "nils", "olga", "pedro", "quinn", "rosa", "sami", "tove")
_LAST = ("adler", "berg", "costa", "dahl", "ekman", "fischer", "garcia", "holm", "ivanova", "jensen",
         "kowalski", "lind", "moreau", "novak", "okafor", "petrov", "quist", "rossi", "silva", "tanaka")
_WORDS = ("bakery", "law", "clinic", "garage", "school", "studio", "hotel", "farm", "books", "dental",
          "florist", "print", "travel", "sports", "cafe", "music", "tax", "optics", "pets", "tools")
_QUOTAS = (None, "512 MiB", "2 GiB", None, "5 GiB", None, "1 GiB", "250 MB")
_GIB = 1024**3
_UNITS = {"MiB": 1024**2, "GiB": _GIB, "MB": 1000**2}
# Scalars that YAML would read as something other than the plain string.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._@/-]*(?: [A-Za-z0-9._@/-]+)*")


@dataclass
class EstateSize:
    """What was written, counted by the generator itself (tests compare it with the catalog)."""

    resellers: int = 0
    clients: int = 0
    domains: int = 0
    mailboxes: int = 0
    aliases: int = 0
    extra_addresses: int = 0
    password_hash: str = ""
    domain_names: list[str] = field(default_factory=list)

    @property
    def entries(self) -> int:
        """Directory entries the estate compiles to: one per tenant, domain, mailbox, alias."""
        return self.resellers + self.clients + self.domains + self.mailboxes + self.aliases


@lru_cache(maxsize=1)
def bench_hash() -> str:
    return hash_password(BENCH_PASSWORD, "sha512", rounds=_HASH_ROUNDS)


def _size_bytes(text: str) -> int:
    number, unit = text.split()
    return int(number) * _UNITS[unit]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    assert isinstance(value, str)
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def to_yaml(data: Any, indent: int = 0) -> str:
    """Block-style YAML, as an operator would write it (dicts, lists and scalars only)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:\n{to_yaml(value, indent + 2)}")
            elif isinstance(value, (dict, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(value, dict) else '[]'}\n")
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}\n")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {body.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
    else:
        lines.append(f"{pad}{_scalar(data)}\n")
    return "".join(lines)


def _local(domain_index: int, k: int) -> tuple[str, str, str]:
    """Local part, first and last name of the k-th mailbox of a domain (unique per domain)."""
    combos = len(_FIRST) * len(_LAST)
    # Offset by the domain so domains do not all start with the same person.
    slot = (k + 7 * domain_index) % combos
    # Shifting the last name by the slot keeps (first, last) unique per slot and mixes families.
    first, last = _FIRST[slot % len(_FIRST)], _LAST[(slot // len(_FIRST) + 3 * slot) % len(_LAST)]
    local = f"{first}.{last}" if k < combos else f"{first}.{last}{k}"
    return local, first, last


def _domain_doc(index: int, name: str, count: int, size: EstateSize) -> tuple[dict[str, Any], int]:
    """One domain file's content and the sum of its mailbox quotas in bytes."""
    doc: dict[str, Any] = {"domain": name}
    default_quota = "1 GiB"
    if index % 25 == 7:
        doc["type"] = "nodns"
        doc["services"] = ["mail"]
    elif index % 40 == 13:
        doc["type"] = "slave"
        doc["primaries"] = ["192.0.2.53", "2001:db8::53"]
    else:
        doc["services"] = ["mail", "web", "dns"] if index % 3 == 0 else ["mail", "dns"]
    doc["mail"] = {"default_quota": default_quota}
    boxes: dict[str, Any] = {}
    locals_: list[str] = []
    quota_sum = 0
    for k in range(count):
        serial = size.mailboxes  # running number over the whole estate, for the mix below
        local, first, last = _local(index, k)
        box: dict[str, Any] = {"name": f"{first.title()} {last.title()}", "password": size.password_hash}
        quota = _QUOTAS[serial % len(_QUOTAS)]
        if quota is not None:
            box["quota"] = quota
        quota_sum += _size_bytes(quota or default_quota)
        if serial % 50 == 17:
            box["status"] = "suspended"
        if serial % 30 == 11:
            box["services"] = {"pop3": False}
        if serial % 7 == 3:
            box["aliases"] = [f"{last}.{first}"]
            size.extra_addresses += 1
        if serial % 20 == 9:
            box["forward"] = {"to": [f"{first}.{last}@home-mail.example"], "keep_copy": serial % 40 == 9}
        boxes[local] = box
        locals_.append(local)
        size.mailboxes += 1
    if boxes:
        doc["mailboxes"] = boxes
        aliases: dict[str, Any] = {"postmaster": locals_[0], "info": locals_[:2]}
        if len(locals_) >= 5:
            aliases["team"] = {"to": locals_, "description": "Everyone at " + name}
        doc["aliases"] = aliases
        size.aliases += len(aliases)
    return doc, quota_sum


def _limits(domains: int, mailboxes: int, aliases: int, quota: int) -> dict[str, Any]:
    # Room to grow, as an ISP would sell it, but tight enough to be real limits.
    return {
        "max_domains": domains + 2,
        "max_mailboxes": mailboxes + 10,
        "max_aliases": aliases + 20,
        "mail_quota_pool": f"{math.ceil(quota * 1.25 / _GIB) + 1} GiB",
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(data), encoding="utf-8")


def generate_estate(root: Path, mailboxes: int, domains: int, base_dn: str) -> EstateSize:
    """Write ``ispctl.yaml`` and ``tenants/`` under ``root`` (which must not hold an estate yet)."""
    if domains < 1 or mailboxes < 0:
        raise ValueError("need at least one domain and a non-negative number of mailboxes")
    if (root / "ispctl.yaml").exists():
        raise FileExistsError(f"{root} already holds an estate")
    size = EstateSize(password_hash=bench_hash())
    _write(root / "ispctl.yaml", {
        "directory": {"base_dn": base_dn, "page_size": 1000},
        "mail": {"root": MAIL_ROOT, "uid": 5000, "gid": 5000},
        "defaults": {"mailbox_quota": "1 GiB", "status": "active"},
    })
    resellers = max(1, domains // DOMAINS_PER_RESELLER)
    per_domain, spare = divmod(mailboxes, domains)
    for r in range(resellers):
        reseller = f"reseller{r:03d}"
        folder = root / "tenants" / reseller
        # Contiguous blocks: reseller r holds domains [start, stop).
        start, stop = r * domains // resellers, (r + 1) * domains // resellers
        block = list(range(start, stop))
        groups = [block[:1]] + [block[i:i + DOMAINS_PER_CLIENT] for i in range(1, len(block), DOMAINS_PER_CLIENT)]
        total = {"domains": 0, "mailboxes": 0, "aliases": 0, "quota": 0}
        for g, group in enumerate(groups):
            owner = folder if g == 0 else folder / f"{reseller}-client{g:03d}"
            used = {"domains": 0, "mailboxes": 0, "aliases": 0, "quota": 0}
            for index in group:
                name = f"{_WORDS[index % len(_WORDS)]}-{index:05d}.example"
                count = per_domain + (1 if index < spare else 0)
                boxes_before, aliases_before, extras_before = size.mailboxes, size.aliases, size.extra_addresses
                doc, quota = _domain_doc(index, name, count, size)
                _write(owner / f"{name}.yaml", doc)
                size.domains += 1
                size.domain_names.append(name)
                used["domains"] += 1
                used["mailboxes"] += size.mailboxes - boxes_before
                used["aliases"] += (size.aliases - aliases_before) + (size.extra_addresses - extras_before)
                used["quota"] += quota
            for key in total:
                total[key] += used[key]
            if g > 0:
                size.clients += 1
                _write(owner / "tenant.yaml", {
                    "name": f"Client {g} of Reseller {r}",
                    "contact": f"admin@{_WORDS[group[0] % len(_WORDS)]}-{group[0]:05d}.example",
                    "limits": _limits(used["domains"], used["mailboxes"], used["aliases"], used["quota"]),
                })
        size.resellers += 1
        first = block[0]
        _write(folder / "tenant.yaml", {
            "name": f"Reseller {r} Hosting",
            "contact": f"noc@{_WORDS[first % len(_WORDS)]}-{first:05d}.example",
            "limits": _limits(total["domains"], total["mailboxes"], total["aliases"], total["quota"]),
        })
    return size
