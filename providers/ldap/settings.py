"""The directory's section of ``ispctl.yaml``: which subtree ispctl owns, how it reads it, and
which accounts read and write it (``accounts``: DNs by role, never passwords; the access rules
``ispctl render access`` writes and the bind DN each ``ispctl render <service>`` writes)."""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import re
from typing import Annotated, Self

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ispctl.providers.ldap import dn as dnlib
from ispctl.reconciler.contract import Flag, Section, Strict

# The roles a DN can be declared for, in the order the rules name them; resellers apart.
SERVICE_ROLES = ("dovecot", "postfix", "pureftpd", "freeradius")
ROLES = ("apply", "plan", *SERVICE_ROLES)
# A DN goes between double quotes in an access rule (access.py): these cannot be carried there.
_UNQUOTABLE = re.compile(r'["\\\x00-\x1f\x7f]')


def _check_dn(value: str) -> str:
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain a line break, tab or other control character")
    try:
        dnlib.check_dn(value)
    except dnlib.InvalidDn as exc:
        raise ValueError(f"is not a distinguished name such as ou=ispctl,dc=example,dc=net ({exc})") from None
    return value


def _account_dn(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty: write the account's DN, or leave the role out")
    if _UNQUOTABLE.search(value):
        raise ValueError("contains a quote or backslash, which an access rule cannot carry: use a DN without them")
    return _check_dn(value)


AccountDn = Annotated[str, AfterValidator(_account_dn)]


class DirectoryAccounts(Strict):
    """The directory's accounts by role: their DNs (passwords stay on the machines that bind)."""

    apply: AccountDn | None = Field(None, description="the account ispctl apply binds as (writes the managed subtree)")
    plan: AccountDn | None = Field(None, description="the account ispctl plan binds as (read-only)")
    dovecot: AccountDn | None = Field(None, description="Dovecot's read-only account (reads password hashes)")
    postfix: AccountDn | None = Field(None, description="Postfix's read-only account (never a hash)")
    pureftpd: AccountDn | None = Field(None, description="pure-ftpd's account (FTP logins' attributes only)")
    freeradius: AccountDn | None = Field(None, description="FreeRADIUS's account (access accounts and profiles only)")
    resellers: dict[str, AccountDn] = Field(default_factory=dict,
                                            description="tenant key -> that reseller's read-only plan account")
    plan_reads_passwords: Flag = Field(True, description="whether plan accounts read password hashes")

    def declared(self) -> list[tuple[tuple[str, ...], str]]:
        """(location under ``accounts``, DN) of every declared account, roles first."""
        found = [((role,), dn) for role in ROLES if (dn := getattr(self, role)) is not None]
        return found + [(("resellers", name), dn) for name, dn in self.resellers.items()]


class DirectorySettings(Strict):
    base_dn: str = Field(description="DN of the subtree ispctl owns; it must already exist")
    page_size: Annotated[int, Field(ge=10, le=100_000)] = 1000
    accounts: DirectoryAccounts = Field(default_factory=DirectoryAccounts,
                                        description="the accounts (DNs by role) the access rules are for")

    @field_validator("base_dn")
    @classmethod
    def _a_dn(cls, value: str) -> str:
        # The base names everything ispctl may touch: a malformed one must stop validation,
        # not surface later as a lock error or (with a line break) a different base.
        return _check_dn(value)

    @model_validator(mode="after")
    def _accounts_apart(self) -> Self:
        # Every error at its own field (file:line), all at once: an account inside the managed
        # subtree would be an entry ispctl prunes; one DN for two roles gives one of them the
        # other's rights (apply's write access in a service's configuration file, above all).
        errors: list[InitErrorDetails] = []

        def refuse(where: tuple[str, ...], dn: str, message: str) -> None:
            errors.append(InitErrorDetails(type=PydanticCustomError("value_error", message), loc=("accounts", *where),
                                           input=dn))

        seen: dict[str, str] = {}
        for where, dn in self.accounts.declared():
            label = where[0] if len(where) == 1 else f"reseller {where[1]}"
            if dnlib.is_within(dn, self.base_dn):
                refuse(where, dn, f"{label}'s account must be outside the managed subtree {self.base_dn} "
                                  "(ispctl would treat it as one of its entries)")
            key = dnlib.normalise(dn)
            if key in seen:
                refuse(where, dn, f"{label}'s account is also {seen[key]}'s: each role needs an account of its own"
                                  + (" (apply's may write: never give it to a service)" if seen[key] == "apply"
                                     else ""))
            else:
                seen[key] = label
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


DIRECTORY = Section("site", "directory", DirectorySettings, required=True,
                    description="the LDAP subtree ispctl owns and its accounts (connection: ISPCTL_LDAP_*)")
