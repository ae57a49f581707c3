"""OpenDKIM's configuration for the estate's signing domains, rendered like Dovecot's and Postfix's.

Four files, meant for ``/etc/opendkim/`` (``opendkim.conf`` for ``/etc/opendkim.conf``):

``opendkim.conf``   signing only (``Mode s``), the milter socket Postfix talks to, and the tables
``KeyTable``        ``<selector>._domainkey.<domain> <domain>:<selector>:<key_dir>/<domain>/<selector>.private``
``SigningTable``    ``*@<domain> <selector>._domainkey.<domain>`` (a ``refile:``: one wildcard per domain;
                    both tables as ``tables`` writes them, which the ``signing`` provider keeps)
``TrustedHosts``    the clients whose mail is signed and never verified (``InternalHosts``,
                    ``ExternalIgnoreList``): loopback, i.e. Postfix itself, by default

Only paths to private keys are written, never a key: the files are as public as Postfix's.
Which key signs a domain here is the newest current key whose record the DNS server serves
(while a domain has one key, that one); ``ispctl apply`` with the ``opendkim`` provider makes the
same switch as a planned change (``provider``).
``render`` is pure (keys in, texts out); ``signing_keys`` makes the choice; ``commands`` has
``ispctl render opendkim``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ispctl.providers.dns.dkim import DkimError, current_selectors, private_path, signing_selector
from ispctl.providers.opendkim.tables import KEY_TABLE, SAFE, SIGNING_TABLE, Entry, TableError, format_tables
from ispctl.reconciler.contract import ConfigError, write_rendered

CONF_FILE = "opendkim.conf"
TRUSTED_HOSTS = "TrustedHosts"
DEFAULT_INSTALL_DIR = "/etc/opendkim"
# Debian's opendkim.service runs "opendkim -P /run/opendkim/opendkim.pid -p local:..." from
# /etc/default/opendkim; an inet socket on loopback is what Postfix (chrooted or not) reaches.
DEFAULT_SOCKET = "inet:8891@127.0.0.1"
DEFAULT_TRUSTED = ("127.0.0.1", "::1", "localhost")
DEBIAN_USER = "opendkim"
DEBIAN_PIDFILE = "/run/opendkim/opendkim.pid"


@dataclass(frozen=True)
class SigningKey:
    """One domain's signing key: its selector, and every selector still published beside it."""

    domain: str
    selector: str
    published: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def signing_keys(store: Path, domains: Iterable[str],
                 served: Callable[[str, str], str | None] | None) -> list[SigningKey]:
    """The key each domain signs with: its newest current key whose record is served.

    ``served(domain, selector)`` is the base64 key the DNS server serves; it is asked only
    for domains in a rotation (two keys or more) and must be given for them.
    """
    out = []
    for domain in sorted(set(domains)):
        try:
            chosen = signing_selector(store, domain, served)
        except DkimError as exc:
            raise ConfigError(str(exc)) from None
        if chosen is not None:  # no key yet: validation says to run 'ispctl dkim init'
            out.append(SigningKey(domain, chosen, tuple(current_selectors(store, domain))))
    return out


def _safe(value: str, what: str) -> str:
    if not SAFE.fullmatch(value):
        raise ConfigError(f"{what} {value!r} cannot be written into OpenDKIM's tables (spaces or other "
                          "characters outside A-Z a-z 0-9 . _ / + @ : -)")
    return value


def render(keys: Iterable[SigningKey], key_dir: str, conf_dir: str = DEFAULT_INSTALL_DIR,
           socket: str = DEFAULT_SOCKET, trusted: Iterable[str] = DEFAULT_TRUSTED, *,
           user: str | None = DEBIAN_USER, pidfile: str = DEBIAN_PIDFILE, syslog: bool = True) -> dict[str, str]:
    """File name -> text; ``key_dir`` and ``conf_dir`` are where they are on the mail host.

    ``user``, ``pidfile`` and ``syslog`` default to what Debian's opendkim.service expects of
    /etc/opendkim.conf (it starts ``/usr/sbin/opendkim`` without arguments and waits for that
    pidfile); the sandbox runs its instance as itself, logging nowhere.
    """
    store = Path(_safe(key_dir, "the key directory"))
    conf = _safe(conf_dir, "the configuration directory")
    entries = []
    for k in keys:
        key_file = _safe(str(private_path(store, k.domain, k.selector)), "a key path")
        # The fingerprint the provider would record: after this render, a plan has nothing to change.
        recorded = Entry(k.domain, k.selector, key_file).resource().fingerprint()
        entries.append(Entry(k.domain, k.selector, key_file, recorded))
    try:
        tables = format_tables(entries)
    except TableError as exc:
        raise ConfigError(str(exc)) from None
    header = "# Written by 'ispctl render opendkim'; changes here are overwritten.\n"
    return {
        CONF_FILE: header + "\n".join([
            "# Sign mail from the trusted hosts for the domains in SigningTable; verify nothing.",
            "Mode s",
            f"Socket {_safe(socket, 'the milter socket')}",
            f"PidFile {_safe(pidfile, 'the pidfile')}",
            *([f"UserID {_safe(user, 'the user')}"] if user else []),
            f"Syslog {'yes' if syslog else 'no'}",
            f"SyslogSuccess {'yes' if syslog else 'no'}",
            # Relaxed header canonicalisation survives the header refolding relays do.
            "Canonicalization relaxed/simple",
            "SignatureAlgorithm rsa-sha256",
            # Signing an absent From too: a From header added later breaks the signature.
            "OversignHeaders From",
            f"KeyTable file:{conf}/{KEY_TABLE}",
            f"SigningTable refile:{conf}/{SIGNING_TABLE}",
            f"InternalHosts refile:{conf}/{TRUSTED_HOSTS}",
            f"ExternalIgnoreList refile:{conf}/{TRUSTED_HOSTS}",
            "UMask 007",
        ]) + "\n",
        **tables,
        TRUSTED_HOSTS: header + "".join(f"{_safe(h, 'the trusted host')}\n" for h in trusted),
    }


def write_files(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write the files (0644: they hold paths, no secret); returns their paths."""
    return write_rendered(files, out_dir)
