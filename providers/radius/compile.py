"""Access accounts and profiles as directory data: the RADIUS service's compile hook.

``compile_radius`` checks the estate (``validate``) and contributes:

* ``radius_profile.<key>`` -- one per profile, key its name (ispctl.yaml) or ``<tenant>/<name>``,
  parent the tenant (none for ispctl.yaml's: the directory's base). Attributes
  ``session_timeout``, ``idle_timeout`` (seconds), ``simultaneous_use`` and ``reply`` (``Attr op
  value`` items, ``Framed-Pool := "<pool>"`` first when the profile names a pool). Stored as a
  ``radiusObjectProfile`` entry FreeRADIUS reads by DN (``radiusProfileDN``): one change there
  reaches every account naming it.
* ``access_account.<login>`` -- one per standalone account, parent the domain: ``password``,
  ``nt_hash``, ``cleartext`` (credentials: sensitive, and the user's after creation unless
  ``credentials: git``), ``methods``, ``access`` (``dialupAccess``: ``TRUE`` only when enabled and
  effectively active), ``profile`` (the profile entry's DN), ``framed_ip``, ``routes``,
  ``reply``, ``status``, ``description``; ``previous:`` names make it a planned rename of the
  live entry (its password, the user's once set, kept).
* on a mailbox with ``services.dialup`` or a ``radius:`` section: the same values as
  ``radius_access``, ``radius_profile``, ``radius_methods``, ``radius_nt_hash``,
  ``radius_cleartext`` (credentials), ``radius_framed_ip``, ``radius_routes``, ``radius_reply``;
  its PAP password is the mailbox's own.

The profile's DN is worked out here from the directory's layout (tenants are ``o=`` entries
below the base, nested under their reseller), as the directory provider names them.
"""

from __future__ import annotations

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.providers.radius.settings import AccountSpec
from ispctl.providers.radius.validate import Account, Profile, check_radius
from ispctl.reconciler.contract import DOMAIN, MAILBOX, TENANT, Catalog, Compiled, Resource, Value, address_of

ACCOUNT, PROFILE = "access_account", "radius_profile"
CREDENTIALS = frozenset({"password", "nt_hash", "cleartext"})
MAILBOX_CREDENTIALS = frozenset({"radius_nt_hash", "radius_cleartext"})


def profile_dn(catalog: Catalog, profile: Profile) -> str:
    """The DN the directory gives the profile's entry (cn=<key> below its tenant, or the base)."""
    parent = catalog.estate.site.section(DIRECTORY).base_dn
    if profile.tenant is not None:
        for tenant in reversed(catalog.tenant_chain(profile.tenant)):
            parent = dnlib.child("o", tenant.name, parent)
    return dnlib.child("cn", profile.key, parent)


def profile_attrs(profile: Profile) -> dict[str, Value]:
    spec = profile.spec
    pool = (f'Framed-Pool := "{spec.framed_pool}"',) if spec.framed_pool else ()
    return {"session_timeout": spec.session_timeout, "idle_timeout": spec.idle_timeout,
            "simultaneous_use": spec.simultaneous_use, "reply": (*pool, *spec.reply)}


def access_attrs(catalog: Catalog, account: Account) -> dict[str, Value]:
    """What an account (standalone or a mailbox's) stores, by the standalone kind's names."""
    spec = account.spec
    return {
        # Spelled as stored, compared as text: a live 'disabled' (ISPMan's, which FreeRADIUS reads
        # as allowed) is drift to correct, where a yes/no reading would take it for FALSE.
        "access": "TRUE" if account.access else "FALSE",
        "profile": profile_dn(catalog, account.profile) if account.profile is not None else None,
        "methods": tuple(sorted(set(spec.auth))),
        "nt_hash": spec.nt_hash,
        "cleartext": spec.cleartext,
        "framed_ip": spec.framed_ip,
        "routes": spec.routes,
        "reply": spec.reply,
    }


def _owned(catalog: Catalog, spec: AccountSpec | None, names: frozenset[str]) -> frozenset[str]:
    """Credentials that belong to the live side once the entry exists (see the estate's CREDENTIALS)."""
    chosen = (spec.credentials if spec is not None else None) or catalog.estate.site.lifecycle.credentials
    return names if chosen == "user" else frozenset()


def compile_radius(catalog: Catalog) -> Compiled:
    """The estate's profiles and access accounts, checked, as resources and mailbox attributes."""
    found, problems = check_radius(catalog)
    out = Compiled(problems=problems)
    for key, profile in sorted(found.profiles.items()):
        parent = address_of(TENANT, profile.tenant) if profile.tenant is not None else None
        out.resources.append(Resource(PROFILE, key, profile_attrs(profile), parent=parent, source=profile.location))
    for login, account in sorted(found.accounts.items()):
        attrs = access_attrs(catalog, account)
        if account.mailbox:
            address = address_of(MAILBOX, login)
            out.attrs[address] = {f"radius_{name}": value for name, value in attrs.items()}
            out.credentials[address] = MAILBOX_CREDENTIALS
            continue
        spec = account.spec
        assert isinstance(spec, AccountSpec)
        attrs.update(password=spec.password, status=account.status, description=spec.description)
        depends = (address_of(PROFILE, account.profile.key),) if account.profile is not None else ()
        out.resources.append(Resource(
            ACCOUNT, login, attrs, parent=address_of(DOMAIN, account.domain), depends_on=depends,
            # A credential left out of git (None) but named in live_credentials is the live side's too:
            # never removed, as a mailbox's password left out of git.
            sensitive=CREDENTIALS, create_only=_owned(catalog, spec, CREDENTIALS) & (
                {k for k, v in attrs.items() if v is not None} | set(spec.live_credentials)),
            # Former names: the engine renames the live entry (modrdn) instead of destroying it.
            previous=tuple(f"{name}@{account.domain}" for name in spec.previous),
            source=account.location))
    return out
