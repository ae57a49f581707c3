"""Who a site runs as, and who may log in to its protected paths.

System users: every site of a tenant runs as that tenant's web user, ``web-<tenant>``, whose
uid (and gid: one private group per tenant) is derived from the tenant's name -- a hash of
it, placed in the site setting's range ``web.uid_min..web.uid_max`` -- so the same tenant
gets the same uid on every run and every web host, with no counter stored anywhere. Two
tenants whose names land on the same uid are a validation error naming both; a tenant file's
``web: {uid: N}`` pins a uid instead (inside the range), which resolves it. Pools and file
ownership use the NUMERIC ids, so no passwd entry is needed; the name is a label (the
php-fpm pool, logs).

The birthday bound applies: with the default range of 100 million uids, an estate of 5,000
web tenants has about a one-in-eight chance of one collision, 20,000 tenants about two.

Logins of protected paths: the hash forms Apache's ``AuthBasicProvider file`` verifies on
Debian -- bcrypt (``$2y$``, also ``$2b$``/``$2a$``), SHA-512 crypt (``$6$``, through the
system's crypt(3)) and Apache's own MD5 (``$apr1$``), each also accepted with the
directory's ``{CRYPT}`` prefix, which is removed (an htpasswd file has no scheme prefix).
Plaintext and other schemes are refused, and a message never repeats the value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

USER_PREFIX = "web-"
_B64 = r"[./0-9A-Za-z]"
_BCRYPT = re.compile(rf"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\${_B64}{{53}}")
_SHA512 = re.compile(rf"\$6\$(?:rounds=[0-9]{{4,9}}\$)?{_B64}{{1,16}}\${_B64}{{86}}")
_APR1 = re.compile(rf"\$apr1\$[^$:\s]{{1,8}}\${_B64}{{22}}")
LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ACCEPTED = "bcrypt ($2y$...), SHA-512 crypt ($6$...) or Apache MD5 ($apr1$...), e.g. from 'htpasswd -nB <name>'"
# Other schemes are named back only when they are one of these (a plaintext password may
# itself start with "{...}" or "$", and must never be echoed even in part).
_KNOWN = {"{SHA}": "one unsalted SHA-1", "{SSHA}": "salted SHA-1", "$1$": "MD5 crypt", "$5$": "SHA-256 crypt",
          "{MD5}": "one unsalted MD5", "{PLAIN}": "plaintext", "{CLEARTEXT}": "plaintext"}


def apache_hash(value: object) -> str:
    """The hash as an htpasswd file holds it; ValueError (never echoing the value) otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"must be a password hash; store {ACCEPTED}")
    bare = value[len("{CRYPT}"):] if value[:7].upper() == "{CRYPT}" else value
    if _BCRYPT.fullmatch(bare) or _SHA512.fullmatch(bare) or _APR1.fullmatch(bare):
        return bare
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("is not a password hash: it contains a space, line break or control character (the value "
                         f"is not shown); store {ACCEPTED}")
    for prefix, what in _KNOWN.items():
        if bare.upper().startswith(prefix.upper()):
            raise ValueError(f"{prefix} is {what}, not accepted here; store {ACCEPTED}")
    raise ValueError(f"is not a password hash (plaintext or a damaged hash; the value is not shown); store {ACCEPTED}")


def login_name(value: str) -> str:
    """A login of a protected path: one htpasswd line's name (no ':' or space)."""
    if not LOGIN_RE.fullmatch(value):
        raise ValueError(f"login {value!r} must be 1-64 letters, digits and . _ @ - (starting with a letter or digit)")
    return value


def derived_uid(tenant: str, low: int, high: int) -> int:
    """The tenant's uid in ``low..high`` from a hash of its name: stable, no counter."""
    digest = hashlib.sha256(tenant.encode("utf-8")).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def home_name(tenant: str, previous: Sequence[str]) -> str:
    """The name a tenant's web home (``<web_root>/<name>``), user and derived uid go by: the
    first it had. A renamed tenant (``previous:``, newest first) keeps serving from the same
    home as the same user: its rename moves no file and changes no owner (while ``previous:``
    keeps that name)."""
    return previous[-1] if previous else tenant


def user_name(tenant: str) -> str:
    return USER_PREFIX + tenant
