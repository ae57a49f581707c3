"""named's control channel through the real ``rndc`` (bind9-utils): addzone, delzone, modzone.

rndc reads ``/etc/bind/rndc.conf`` (and ignores ``-k``) whenever that file exists, so every call
gets a throwaway config of its own that only ``include``s the key file: the secret is never
copied, and the machine's own rndc setup never decides which server ispctl talks to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ispctl.providers.dns.connection import Unreachable, parse_key_statement
from ispctl.providers.dns.names import BadValue, primary_address
from ispctl.reconciler.contract import ConfigError, ProviderError

# Debian installs rndc in /usr/sbin, which is not on a normal user's PATH.
_SBIN = ("/usr/sbin", "/sbin")

# Zone names reach named's config parser inside rndc arguments; only plain DNS names may.
# fullmatch only: "$" also matches before a final newline.
_SAFE_ZONE = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


def check_zone_name(zone: str) -> str:
    """``zone`` if it is safe to put into a named config statement, else ProviderError."""
    if len(zone) > 253 or not _SAFE_ZONE.fullmatch(zone):
        raise ProviderError(f"dns: zone name {zone!r} cannot be passed to named (letters, digits, '-', '_' and dots "
                            "only)")
    return zone


def quoted(text: str) -> str:
    """A named.conf string literal."""
    if any(c in '"\\;{}' or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ProviderError(f"dns: {text!r} cannot be written into a named config statement")
    return f'"{text}"'


def address_list(addresses: tuple[str, ...]) -> str:
    """named's ``{ a; b; }`` of plain IP addresses (validate checked them; this is the last guard)."""
    items = []
    for text in addresses:
        try:
            items.append(primary_address(text))
        except BadValue as exc:
            raise ProviderError(f"dns: {exc}; it cannot be written into named's config") from None
    if not items:
        raise ProviderError("dns: an empty address list cannot be written into named's config")
    return "{ " + " ".join(f"{item};" for item in items) + " }"


class Rndc:
    """One named control channel; every method is one rndc call."""

    def __init__(self, host: str, port: int, key_file: str, timeout: float = 30.0) -> None:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"cannot read ISPCTL_RNDC_KEY_FILE {key_file}: {reason}") from None
        statement = parse_key_statement(text)
        if statement is None:
            raise ConfigError(f"ISPCTL_RNDC_KEY_FILE {key_file} holds no BIND key statement")
        self.host, self.port, self.timeout = host, port, timeout
        self.key_file = os.path.abspath(key_file)
        self.key_name = statement.name
        self.calls: list[str] = []  # the commands sent, so tests can prove what was asked

    def run(self, *args: str) -> str:
        """Run ``rndc <args>`` and return its output; ProviderError with named's message if it fails."""
        search = os.pathsep.join([p for p in os.environ.get("PATH", "").split(os.pathsep) if p] + list(_SBIN))
        binary = shutil.which("rndc", path=search)
        if binary is None:
            raise ProviderError('dns: rndc is not installed: run "apt-get install bind9-utils" (Debian package '
                                'bind9-utils)')
        conf = (f"include {quoted(self.key_file)};\n"
                f"options {{ default-key {quoted(self.key_name)}; }};\n")
        with tempfile.TemporaryDirectory(prefix="ispctl-rndc-") as tmp:
            path = Path(tmp) / "rndc.conf"
            path.write_text(conf, encoding="utf-8")
            argv = [binary, "-c", str(path), "-s", self.host, "-p", str(self.port), *args]
            self.calls.append(args[0] if args else "")
            try:
                # stdin from /dev/null: started with fd 0 closed (some CI runners do that), rndc
                # would get a socket as fd 0, and libuv aborts when it closes it.
                result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                        timeout=self.timeout, check=False)
            except subprocess.TimeoutExpired:
                raise Unreachable(f"dns: rndc {args[0]} got no answer from {self.host}:{self.port} "
                                    f"within {self.timeout:g} s") from None
        if result.returncode != 0:
            message = " ".join((result.stderr or result.stdout).split()) or f"exit status {result.returncode}"
            if "connect failed" in message or "timed out" in message or "connection reset" in message:
                raise Unreachable(f"dns: rndc {args[0]} failed: {message}")
            raise ProviderError(f"dns: rndc {args[0]} failed: {message}")
        return result.stdout

    def addzone(self, zone: str, config: str) -> None:
        self.run("addzone", check_zone_name(zone), config)

    def modzone(self, zone: str, config: str) -> None:
        self.run("modzone", check_zone_name(zone), config)

    def zone_config(self, zone: str) -> str | None:
        """The zone's config as ``addzone`` takes it (``{ type ...; };``), None when named has no such zone."""
        try:
            shown = self.run("showzone", check_zone_name(zone))
        except ProviderError as exc:
            if "not found" in str(exc):
                return None
            raise
        start = shown.find("{")
        return shown[start:].strip() if start >= 0 else None

    def zone_type(self, zone: str) -> str | None:
        """The zone's type in named's config ("primary", "secondary", ...), None when named has no such zone."""
        shown = self.zone_config(zone)
        if shown is None:
            return None
        found = re.search(r"\btype\s+([a-z-]+)\s*;", shown)
        kind = found.group(1) if found else "unknown"
        return {"master": "primary", "slave": "secondary"}.get(kind, kind)

    def delzone(self, zone: str, clean: bool = True) -> bool:
        """Delete a zone added with addzone (and, with ``clean``, its files); False when named has no such zone.

        Only a zone whose data is archived or is a copy (a secondary) may be cleaned.
        """
        try:
            self.run("delzone", *(("-clean",) if clean else ()), check_zone_name(zone))
        except ProviderError as exc:
            if "not found" in str(exc):
                return False
            raise
        return True

    def has_zone(self, zone: str) -> bool:
        """named knows the zone (from its config or an earlier addzone), loaded or not."""
        try:
            self.run("showzone", check_zone_name(zone))
        except ProviderError as exc:
            if "not found" in str(exc):
                return False
            raise
        return True
