"""The ACME (RFC 8555) side of a site's certificate, through certbot's ``acme`` library.

``issue`` runs one order: account (a key kept on the web host, registered again on every run,
which returns the existing account), new order for the CSR's names, one challenge per pending
authorization, poll, finalize, download the full chain. Challenges:

* HTTP-01: the key authorization is written to ``<challenge_dir>/<token>`` (0644), the
  directory Apache serves at ``/.well-known/acme-challenge/`` for every name of the site;
* DNS-01 (any ``*.`` name, or every name when asked for): a TXT record
  ``_acme-challenge.<name>`` added by an RFC 2136 update to ispctl's DNS primary, signed with
  the DNS provider's TSIG key (``DnsConnection``); the only way to a wildcard.

Token files and TXT records are removed afterwards, whatever the outcome. Every failure comes
out as ``AcmeFailure`` with a readable reason (the CA's problem detail per name); the caller
names the site. Nothing here sees the certificate's private key: only its CSR.
"""

from __future__ import annotations

import datetime
import http.client
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import josepy.errors
from acme import challenges, client, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.query import exchange

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

CHALLENGE_PATH = "/.well-known/acme-challenge/"
_TXT_TTL = 60
_USER_AGENT = "ispctl"


class AcmeFailure(Exception):
    """The CA did not issue; ``str()`` says why (never containing key material)."""


# --- account ---------------------------------------------------------------------------


def account_key_file(account_dir: Path, directory_url: str) -> Path:
    """One account key per CA (host and port of its directory): staging and production differ."""
    where = urlsplit(directory_url).netloc.replace(":", "_") or "acme"
    return account_dir / ".acme-accounts" / where / "account.key"


def load_account_key(path: Path) -> JWKEC:
    """The account key at ``path`` (P-256), made on first use: 0600 in a 0700 directory."""
    if path.exists():
        loaded = JWKEC.load(path.read_bytes())
        if not isinstance(loaded, JWKEC):
            raise AcmeFailure(f"{path} is not an EC (P-256) account key")
        return loaded
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    partial = path.with_name(f".{path.name}.new")
    partial.unlink(missing_ok=True)
    partial.touch(mode=0o600)
    partial.write_bytes(pem)
    partial.replace(path)
    return JWKEC(key=key)


class _Client(client.ClientV2):
    """certbot's client, looking at a finalized order after 50 ms (doubling) instead of 1 s.

    The library's ``poll_finalization`` sleeps a full second before its first look, so a CA that
    issues at once (pebble; Let's Encrypt mostly) costs a second per certificate. An order found
    issued within that second is fetched here; any other state (still processing, invalid, ready
    again) goes to the library's loop, which handles each as before."""

    def poll_finalization(self, orderr: messages.OrderResource, deadline: datetime.datetime,
                          fetch_alternative_chains: bool = False) -> messages.OrderResource:
        pause = 0.05
        while not fetch_alternative_chains and pause < 1 and datetime.datetime.now() < deadline:
            time.sleep(pause)
            body = messages.Order.from_json(self._post_as_get(orderr.uri).json())
            if body.status == messages.STATUS_VALID and body.certificate is not None:
                chain = self._post_as_get(body.certificate).text
                return cast(messages.OrderResource, orderr.update(body=body, fullchain_pem=chain))
            if body.status != messages.STATUS_PROCESSING:
                break
            pause *= 2
        return super().poll_finalization(orderr, deadline, fetch_alternative_chains)


def connect(directory_url: str, key: JWKEC, *, ca_file: Path | None, contact: str | None,
            timeout: float) -> client.ClientV2:
    """A client with a registered account (new, or the existing one for this key)."""
    net = client.ClientNetwork(key, alg=ES256, user_agent=_USER_AGENT, timeout=int(timeout))
    if ca_file is not None:
        # requests takes a CA bundle path for ``verify``; acme passes it through unchanged.
        net.verify_ssl = cast(bool, str(ca_file))
    contacts = (contact,) if contact else ()
    registration = messages.NewRegistration.from_data(contact=contacts, terms_of_service_agreed=True)
    with _reasons(timeout):
        acme = _Client(_Client.get_directory(directory_url, net), net)
        try:
            acme.new_account(registration)
        except errors.ConflictError as exc:  # this key already has an account: use it
            net.account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
    return acme


# --- challenges ------------------------------------------------------------------------


def http_precheck(names: Iterable[str], challenge_dir: Path, address: tuple[str, int],
                  timeout: float = 5.0) -> dict[str, str]:
    """Names whose HTTP-01 would fail, with why: a test file is written to the challenge dir and
    fetched from the web server at ``address`` with each name as Host header (as ISPConfig
    does), so the CA (and its rate limits) only see names that answer."""
    token, content = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    failed: dict[str, str] = {}
    with ExitStack() as stack:
        path = _write_token(challenge_dir, token, content)
        stack.callback(path.unlink, missing_ok=True)
        for name in names:
            reason = _fetch_check(address, name, CHALLENGE_PATH + token, content, timeout)
            if reason is not None:
                failed[name] = reason
    return failed


def _fetch_check(address: tuple[str, int], name: str, path: str, content: str, timeout: float) -> str | None:
    connection = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": name, "User-Agent": _USER_AGENT})
        response = connection.getresponse()
        body = response.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        return f"http://{name}{CHALLENGE_PATH}... did not answer from {address[0]}:{address[1]}: {exc}"
    finally:
        connection.close()
    if response.status != 200:
        return f"http://{name}{CHALLENGE_PATH}... answered {response.status}, not the test file"
    if body.strip() != content.encode("ascii"):
        return f"http://{name}{CHALLENGE_PATH}... answered 200 with other content than the test file"
    return None


def _write_token(challenge_dir: Path, token: str, content: str) -> Path:
    challenge_dir.mkdir(parents=True, exist_ok=True)
    path = challenge_dir / token
    path.write_text(content, encoding="ascii")
    path.chmod(0o644)  # Apache serves it, as whatever user it runs as
    return path


class DnsChallenges:
    """TXT records at ``_acme-challenge.<name>`` on ispctl's DNS primary, by RFC 2136 updates."""

    def __init__(self, conn: DnsConnection) -> None:
        self.conn = conn

    def zone_of(self, name: str) -> str | None:
        """The zone on the primary that holds ``name`` (the closest enclosing one), or None."""
        import dns.exception
        import dns.message
        import dns.name
        import dns.query
        import dns.rcode
        import dns.rdatatype

        labels = name.rstrip(".").removeprefix("*.").split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            query = dns.message.make_query(candidate + ".", dns.rdatatype.SOA)
            query.use_tsig(self.conn.tsig_key)
            try:
                response = dns.query.tcp(query, self.conn.host, port=self.conn.port, timeout=self.conn.timeout)
            except (dns.exception.DNSException, OSError) as exc:
                raise AcmeFailure(f"DNS server {self.conn.host}:{self.conn.port} did not answer: {exc}") from None
            if response.rcode() == dns.rcode.NOERROR and any(
                    rrset.rdtype == dns.rdatatype.SOA and rrset.name == dns.name.from_text(candidate)
                    for rrset in response.answer):
                return candidate
        return None

    def add(self, zone: str, owner: str, value: str) -> Callable[[], None]:
        """Adds the TXT value (next to any other: ``x`` and ``*.x`` share an owner); returns its undo."""
        self._update(zone, owner, value, add=True)
        return lambda: self._update(zone, owner, value, add=False, quiet=True)

    def _update(self, zone: str, owner: str, value: str, *, add: bool, quiet: bool = False) -> None:
        import dns.exception
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.rdtypes.ANY.TXT
        import dns.update

        message = dns.update.UpdateMessage(zone + ".")
        rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode("ascii")])
        if add:
            message.add(owner + ".", _TXT_TTL, rdata)
        else:
            message.delete(owner + ".", rdata)
        message.use_tsig(self.conn.tsig_key)
        what = f"{'adding' if add else 'removing'} TXT {owner} in zone {zone}"
        try:
            response, _ = exchange(self.conn, message)
        except (dns.exception.DNSException, OSError) as exc:
            if quiet:
                return
            raise AcmeFailure(f"{what}: DNS server {self.conn.host}:{self.conn.port}: {exc}") from None
        if response.rcode() != dns.rcode.NOERROR and not quiet:
            raise AcmeFailure(f"{what}: the DNS server answered {dns.rcode.to_text(response.rcode())}")


# --- one order -------------------------------------------------------------------------


def issue(acme: client.ClientV2, csr_pem: bytes, *, challenge_dir: Path | None, dns01: DnsChallenges | None,
          dns_only: bool, timeout: float) -> str:
    """Order, prove control of every name, finalize: the full chain (PEM) the CA issued."""
    key = acme.net.key
    assert key is not None
    with _reasons(timeout):
        order = acme.new_order(csr_pem)
        with ExitStack() as cleanup:
            answers: list[tuple[messages.ChallengeBody, challenges.ChallengeResponse]] = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue  # the CA remembers an earlier proof
                wildcard = bool(authz.body.wildcard)
                name = authz.body.identifier.value  # without the "*." of a wildcard (RFC 8555 7.1.4)
                shown = f"*.{name}" if wildcard else name
                if wildcard or dns_only:
                    challb = _pick(authz, challenges.DNS01, shown)
                    response, validation = challb.response_and_validation(key)
                    if dns01 is None:
                        raise AcmeFailure(f"{shown}: DNS-01 needs the DNS server (ISPCTL_DNS_SERVER and its TSIG key)")
                    zone = dns01.zone_of(name)
                    if zone is None:
                        raise AcmeFailure(f"{shown}: no zone on the DNS server holds it, so DNS-01 cannot answer")
                    owner = cast(challenges.DNS01, challb.chall).validation_domain_name(name)
                    cleanup.callback(dns01.add(zone, owner, validation))
                else:
                    if challenge_dir is None:
                        raise AcmeFailure(f"{name}: HTTP-01 needs the site's challenge directory")
                    challb = _pick(authz, challenges.HTTP01, name)
                    response, validation = challb.response_and_validation(key)
                    token = challb.chall.encode("token")
                    cleanup.callback(_write_token(challenge_dir, token, validation).unlink, missing_ok=True)
                answers.append((challb, response))
            for challb, response in answers:
                acme.answer_challenge(challb, response)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
            done = acme.poll_and_finalize(order, deadline)
    return str(done.fullchain_pem)


@contextmanager
def _reasons(timeout: float) -> Iterator[None]:
    """The acme library's exceptions as one ``AcmeFailure`` saying why, in words."""
    try:
        yield
    except errors.ValidationError as exc:
        raise AcmeFailure("; ".join(_authz_problem(a) for a in exc.failed_authzrs)) from None
    except errors.IssuanceError as exc:
        raise AcmeFailure(f"the CA refused to issue: {exc.error}") from None
    except errors.TimeoutError:
        raise AcmeFailure(f"the CA did not validate and issue within {timeout:g} s") from None
    except messages.Error as exc:
        raise AcmeFailure(f"the CA answered: {exc}") from None
    except (errors.Error, josepy.errors.Error) as exc:
        raise AcmeFailure(f"ACME: {exc or type(exc).__name__}") from None
    except OSError as exc:  # requests' errors are OSErrors: refused, TLS verification, timeout
        raise AcmeFailure(f"cannot reach the CA: {exc}") from None


def _pick(authz: messages.AuthorizationResource, kind: type[challenges.Challenge],
          name: str) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, kind):
            return challb
    offered = ", ".join(sorted(str(c.chall.typ) for c in authz.body.challenges))
    raise AcmeFailure(f"{name}: the CA offers no {kind.typ} challenge (only {offered})")


def _authz_problem(authz: messages.AuthorizationResource) -> str:
    name = ("*." if authz.body.wildcard else "") + authz.body.identifier.value
    problems = [f"{c.chall.typ}: {c.error.detail or c.error.typ}" for c in authz.body.challenges
                if c.error is not None]
    return f"{name}: {', '.join(problems) or authz.body.status}"
