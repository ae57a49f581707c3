"""HTTPS ``auto``: one site's certificate on the web host, issued and renewed from an ACME CA.

The one entry point is ``ensure(request, settings) -> CertStatus``; the web provider calls it
for every ``https: auto`` site once the site's HTTP configuration is live (HTTP-01 needs Apache
to serve the challenge directory), and switches the site to HTTPS once ``status.ready``.

What it guarantees:

* the private key is generated here, written 0600 and never leaves the host: it is not in a
  plan, a log, an exception or a status (the ACME server only sees the CSR);
* ``fullchain.pem`` and ``privkey.pem`` in ``request.cert_dir`` are each replaced atomically
  (a temporary file in the same directory, renamed), the key first;
* a certificate is (re)issued when there is none, when it expires within
  ``settings.renew_days``, when its key does not match ``privkey.pem``, or when its names
  differ from the names that can be validated now;
* a failed issuance raises ``CertError`` naming the site, and leaves the existing files as they
  were: the site keeps serving its old certificate (or plain HTTP) and the next run tries again.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from acme import crypto_util
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.web import acme
from ispctl.providers.web.settings import WebSettings
from ispctl.reconciler.contract import ProviderError, Resource

FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"
Challenge = Literal["http-01", "dns-01"]
KeyType = Literal["ecdsa-p256", "rsa-2048"]
Action = Literal["issued", "renewed", "kept"]


class CertError(ProviderError):
    """Issuing a site's certificate failed; the message names the site and why."""


@dataclass(frozen=True)
class CertRequest:
    """One site's certificate, as the web provider asks for it.

    ``names``: the site's host first, then its aliases (IDNA ASCII, lower case); a ``*.``
    name can only be validated over DNS-01. ``challenge_dir``: the directory Apache serves at
    ``http://<name>/.well-known/acme-challenge/`` for every one of the names (ispctl owns it;
    tokens are written there and removed afterwards). ``cert_dir``: ``<certs_dir>/<host>``.
    """

    site: str
    names: tuple[str, ...]
    cert_dir: Path
    challenge_dir: Path | None = None
    challenge: Challenge = "http-01"


@dataclass(frozen=True)
class AcmeSettings:
    """Where to get certificates and how.

    ``directory_url``: the CA's ACME directory (Let's Encrypt:
    https://acme-v02.api.letsencrypt.org/directory). ``account_dir``: where the account key is
    kept (0600; one key per CA host), normally ``certs_dir``. ``ca_file``: the CA bundle that
    verifies the ACME server's own TLS (None: the system's). ``contact``: a ``mailto:`` URL the CA
    may write to. ``http_address``: host and port of
    the web server on this host, for the pre-check that fetches a test file with each name as
    Host header before asking the CA. ``dns``: the DNS primary (RFC 2136, TSIG) for DNS-01.
    """

    directory_url: str
    account_dir: Path
    http_address: tuple[str, int] = ("127.0.0.1", 80)
    ca_file: Path | None = None
    contact: str | None = None
    renew_days: int = 30
    key_type: KeyType = "ecdsa-p256"
    dns: DnsConnection | None = None
    timeout: float = 90.0


@dataclass(frozen=True)
class CertStatus:
    """What ``ensure`` found or did: ``names`` are the certificate's, ``skipped`` the requested
    names left out because they did not answer the pre-check (or have no zone for DNS-01)."""

    site: str
    action: Action
    names: tuple[str, ...]
    not_after: datetime.datetime
    fullchain: Path
    privkey: Path
    skipped: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.fullchain.exists() and self.privkey.exists()


def acme_settings(web: WebSettings, env: Mapping[str, str] | None = None) -> AcmeSettings:
    """``AcmeSettings`` from the ``web:`` settings; DNS-01 uses the DNS provider's connection
    (``ISPCTL_DNS_SERVER`` and its TSIG key) when it is configured in ``env``."""
    env = os.environ if env is None else env
    dns = DnsConnection.from_env(env) if env.get("ISPCTL_DNS_SERVER", "").strip() else None
    return AcmeSettings(
        directory_url=web.acme_directory, account_dir=Path(web.certs_dir),
        http_address=(web.probe_address, web.http_port),
        ca_file=Path(web.acme_ca_bundle) if web.acme_ca_bundle else None, contact=web.acme_contact,
        renew_days=web.acme_renew_days, dns=dns)


def request_for(site: Resource, certs_dir: str | Path, challenge_dir: str | Path,
                challenge: Challenge = "http-01") -> CertRequest:
    """The certificate request of a ``site`` resource: its host and aliases."""
    aliases = site.attrs.get("aliases") or ()
    names = (site.key, *(str(a) for a in aliases)) if isinstance(aliases, tuple) else (site.key,)
    return CertRequest(site.key, names, Path(certs_dir) / site.key, Path(challenge_dir), challenge)


def ensure(request: CertRequest, settings: AcmeSettings) -> CertStatus:
    """A valid certificate for the site's names in ``request.cert_dir`` (see the module docstring).

    Raises ``CertError`` naming the site when no certificate could be issued.
    """
    names = _names(request)
    fullchain, privkey = request.cert_dir / FULLCHAIN, request.cert_dir / PRIVKEY
    current = read_current(request.cert_dir)
    if current is not None and _good_for(current, names, settings.renew_days):
        return CertStatus(request.site, "kept", current.names, current.not_after, fullchain, privkey)
    dns01 = acme.DnsChallenges(settings.dns) if settings.dns is not None else None
    skipped = _precheck(request, names, settings, dns01)
    answering = tuple(n for n in names if n not in skipped)
    if request.site not in answering:
        why = "; ".join(f"{n}: {r}" for n, r in skipped.items())
        raise CertError(f"site {request.site}: no certificate issued ({why})")
    if current is not None and _good_for(current, answering, settings.renew_days):
        return CertStatus(request.site, "kept", current.names, current.not_after, fullchain, privkey,
                          tuple(skipped))
    key = new_private_key(settings.key_type)
    pem = key_pem(key)
    csr = crypto_util.make_csr(pem, list(answering))
    try:
        key_file = acme.account_key_file(settings.account_dir, settings.directory_url)
        client = acme.connect(settings.directory_url, acme.load_account_key(key_file), ca_file=settings.ca_file,
                              contact=settings.contact, timeout=settings.timeout)
        chain = acme.issue(client, csr, challenge_dir=request.challenge_dir, dns01=dns01,
                           dns_only=request.challenge == "dns-01", timeout=settings.timeout)
    except acme.AcmeFailure as exc:
        raise CertError(f"site {request.site}: no certificate issued: {exc}") from None
    leaf = x509.load_pem_x509_certificate(chain.encode("ascii"))
    if leaf.public_key() != key.public_key() or set(cert_names(leaf)) != set(answering):
        raise CertError(f"site {request.site}: the CA returned a certificate for another key or other names "
                        f"({', '.join(cert_names(leaf))})")
    request.cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_pair(privkey, pem, fullchain, chain.encode("ascii"))
    return CertStatus(request.site, "renewed" if current is not None else "issued", cert_names(leaf),
                      leaf.not_valid_after_utc, fullchain, privkey, tuple(skipped))


@dataclass(frozen=True)
class Current:
    """The certificate in a site's cert dir: names, expiry, and whether privkey.pem is its key."""

    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    key_matches: bool


def read_current(cert_dir: Path) -> Current | None:
    """What is in ``cert_dir`` now; None when there is no usable pair (missing or unreadable)."""
    try:
        leaf = x509.load_pem_x509_certificate((cert_dir / FULLCHAIN).read_bytes())
        key = serialization.load_pem_private_key((cert_dir / PRIVKEY).read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    return Current(cert_names(leaf), leaf.not_valid_before_utc, leaf.not_valid_after_utc,
                   key.public_key() == leaf.public_key())


def _good_for(current: Current, names: tuple[str, ...], renew_days: int) -> bool:
    return _why_due(current, names, renew_days) is None


def _why_due(current: Current, names: tuple[str, ...], renew_days: int) -> str | None:
    now = datetime.datetime.now(datetime.UTC)
    if not current.key_matches:
        return "privkey.pem is not the certificate's key"
    if set(current.names) != set(names):
        return f"the certificate is for {', '.join(current.names)}, the site is {', '.join(sorted(names))}"
    if current.not_before > now:
        return "the certificate is not valid yet"
    if current.not_after - now <= datetime.timedelta(days=renew_days):
        return f"the certificate expires {current.not_after:%Y-%m-%d %H:%M} UTC, within {renew_days} days"
    return None


def renewal_due(request: CertRequest, renew_days: int) -> str | None:
    """Why the site's certificate needs ``ensure`` although the site did not change (None: it
    does not), from the files alone: no network, so a provider's read can ask it for every site.

    Missing, expiring within ``renew_days``, or not matching its key. Names are not compared: a
    changed name set changes the site itself (and ``ensure`` runs with it), while an alias that
    failed the pre-check would otherwise make every run's plan ask again.
    """
    current = read_current(request.cert_dir)
    if current is None:
        return f"no certificate in {request.cert_dir}"
    return _why_due(current, current.names, renew_days)


def _names(request: CertRequest) -> tuple[str, ...]:
    """The request's names, lower case without a trailing dot, duplicates dropped, the site first."""
    site = request.site.rstrip(".").lower()
    names = [site] + [n.rstrip(".").lower() for n in request.names]
    return tuple(dict.fromkeys(names))


def _precheck(request: CertRequest, names: tuple[str, ...], settings: AcmeSettings,
              dns01: acme.DnsChallenges | None) -> dict[str, str]:
    """Names that could not be validated now, with why (the CA is not asked for them)."""
    skipped: dict[str, str] = {}
    over_http = []
    for name in names:
        if name.startswith("*.") or request.challenge == "dns-01":
            if dns01 is None:
                skipped[name] = "DNS-01 needs the DNS server (ISPCTL_DNS_SERVER and its TSIG key)"
            else:
                try:
                    zone = dns01.zone_of(name)
                except acme.AcmeFailure as exc:
                    raise CertError(f"site {request.site}: no certificate issued: {exc}") from None
                if zone is None:
                    skipped[name] = "no zone on the DNS server holds it, so DNS-01 cannot answer"
        else:
            over_http.append(name)
    if over_http:
        if request.challenge_dir is None:
            skipped.update({n: "HTTP-01 needs the site's challenge directory" for n in over_http})
        else:
            skipped.update(acme.http_precheck(over_http, request.challenge_dir, settings.http_address))
    return {n: skipped[n] for n in names if n in skipped}


def write_pair(privkey: Path, key_data: bytes, fullchain: Path, chain_data: bytes) -> None:
    """Both files staged first, then renamed one right after the other (the key first), so the
    pair is mismatched only between two renames, and a failure before leaves both as they were."""
    staged_key = _stage(privkey, key_data, 0o600)
    try:
        staged_chain = _stage(fullchain, chain_data, 0o644)
    except BaseException:
        staged_key.unlink(missing_ok=True)
        raise
    os.replace(staged_key, privkey)
    os.replace(staged_chain, fullchain)


# --- files ---------------------------------------------------------------------------------


def _stage(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new file next to ``path``, with ``mode`` from its first byte, synced."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def new_private_key(key_type: KeyType) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The DNS names of a certificate's subjectAltName, sorted."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(sorted(name.lower() for name in san.get_values_for_type(x509.DNSName)))
