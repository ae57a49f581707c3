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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ispctl.providers.dns.connection import DnsConnection
from ispctl.reconciler.contract import ProviderError

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
    verifies the ACME server's own TLS (None: the system's). ``http_address``: host and port of
    the web server on this host, for the pre-check that fetches a test file with each name as
    Host header before asking the CA. ``dns``: the DNS primary (RFC 2136, TSIG) for DNS-01.
    """

    directory_url: str
    account_dir: Path
    http_address: tuple[str, int] = ("127.0.0.1", 80)
    ca_file: Path | None = None
    email: str | None = None
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


def ensure(request: CertRequest, settings: AcmeSettings) -> CertStatus:
    """A valid certificate for the site's names in ``request.cert_dir`` (see the module docstring).

    Raises ``CertError`` naming the site when no certificate could be issued.
    """
    raise NotImplementedError("coming in the next commit")


# --- files ---------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` by ``data`` in one rename; the file has ``mode`` from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
