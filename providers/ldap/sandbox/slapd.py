"""A real OpenLDAP slapd on loopback, configured from scratch in a work directory.

Used by the test-suite and by ``ispctl sandbox``: cn=config is built offline with ``slapadd -n0``,
then slapd runs in the foreground (``ispctl.reconciler.harness.daemons``). The instance always
carries some data outside ispctl's managed subtree so tests can prove ispctl leaves it alone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from ldap3.utils.dn import parse_dn

from ispctl.providers.ldap.access import access_rules
from ispctl.providers.ldap.sandbox.accounts import (
    ENV_PREFIX,
    accounts_env,
    accounts_ldif,
    load_passwords,
    sandbox_accounts,
)
from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary, socket_path
from ispctl.reconciler.harness.instance import DaemonInstance

SCHEMA_DIR = Path(__file__).parent.parent / "schema"
ISPCTL_SCHEMA = SCHEMA_DIR / "ispctl.ldif"
_SYSTEM_SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
_SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
_MODULE_PATH = "/usr/lib/ldap"
_INSTALL_HINT = "slapd ldap-utils"
_HOST = "127.0.0.1"
# sun_path is 108 bytes on Linux; leave room for the terminating NUL and some slack.
_MAX_SOCKET_PATH = 100
_STANDARD_INDEXES = ("objectClass eq", "uid,mail,associatedDomain eq,sub", "o,cn eq")
# Indexing an attribute slapd does not know is a config error, so these can only be added
# together with (or after) the ispctl schema.
ISPCTL_INDEXES = (
    "ispctlMailAlias eq,sub",
    "ispctlMailForward,ispctlMailTarget eq",
    "ispctlEnabledService,ispctlAccountStatus eq",
)
FOREIGN_PEOPLE_RDN = "ou=people"
FTP_SCHEMA_FILE = "ispctl-ftp.ldif"  # providers/ftp/schema's, whose attributes pure-ftpd's rule names
RADIUS_SCHEMA_FILE = "ispctl-radius.ldif"  # providers/radius/schema's, whose attributes FreeRADIUS's rules name
FOREIGN_PERSON_RDN = "uid=postmaster-human"


def ssha(password: str) -> str:
    """RFC 2307 ``{SSHA}`` hash, which slapd verifies natively (no extra module needed)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _rdn(dn: str) -> tuple[str, str]:
    attr, value, _sep = parse_dn(dn)[0]
    return attr, value


def _parent(dn: str) -> str:
    return ",".join(f"{a}={v}" for a, v, _s in parse_dn(dn)[1:])


def _norm(dn: str) -> str:
    return ",".join(f"{a.lower()}={v.lower()}" for a, v, _s in parse_dn(dn))


def _container_ldif(dn: str) -> str:
    """An LDIF record for a plain container entry, typed by its RDN attribute."""
    attr, value = _rdn(dn)
    kind = attr.lower()
    if kind == "dc":
        # The suffix entry doubles as the organisation, as Debian's own postinst sets it up.
        return (f"dn: {dn}\nobjectClass: dcObject\nobjectClass: organization\n"
                f"dc: {value}\no: {value}\n")
    if kind == "o":
        return f"dn: {dn}\nobjectClass: organization\no: {value}\n"
    if kind == "ou":
        return f"dn: {dn}\nobjectClass: organizationalUnit\nou: {value}\n"
    raise ValueError(f"cannot create a container entry named {dn!r} (RDN must be dc, o or ou)")


def ispctl_index_ldif(database_dn: str = "olcDatabase={1}mdb,cn=config") -> str:
    """ldapmodify input adding ISPCTL_INDEXES to a running slapd, after the schema is loaded."""
    values = "".join(f"olcDbIndex: {index}\n" for index in ISPCTL_INDEXES)
    return f"dn: {database_dn}\nchangetype: modify\nadd: olcDbIndex\n{values}"


class SlapdInstance(DaemonInstance):
    """One slapd with its config (slapd.d), data (mdb) and ldapi socket under ``workdir``."""

    daemon_name = "slapd"
    # The schemas an instance made without ``schemas`` loads: the test-suite sets the registered
    # services' here once (tests/conftest.py), so every test slapd can hold what they write.
    default_schemas: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        workdir: Path,
        *,
        suffix: str = "dc=example,dc=net",
        managed_base: str = "ou=ispctl,dc=example,dc=net",
        root_dn: str = "cn=admin,dc=example,dc=net",
        root_password: str | None = None,
        port: int | None = None,
        nosync: bool = True,
        load_ispctl_schema: bool = True,
        schemas: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(workdir)
        # More cn=config LDIF schemas (the services' ``DirectoryPart``s), loaded after ispctl's;
        # None: ``default_schemas``.
        self.schemas = tuple(schemas) if schemas is not None else self.default_schemas
        if not _norm(managed_base).endswith(_norm(suffix)):
            raise ValueError(f"managed base {managed_base!r} is not inside suffix {suffix!r}")
        self._suffix = suffix
        self._managed_base = managed_base
        self._root_dn = root_dn
        # A restarted instance must keep the password its config was built with; it is kept in
        # a 0600 file next to the data (it is also what the ldap tools read via -y).
        if root_password is None and self.password_file.exists():
            root_password = self.password_file.read_text(encoding="utf-8")
        self._password = root_password or secrets.token_urlsafe(24)
        self.port = port or free_port(_HOST)
        self.nosync = nosync
        self.load_ispctl_schema = load_ispctl_schema

    # -- locations -------------------------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.workdir / "slapd.d"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def password_file(self) -> Path:
        return self.workdir / "rootpw"

    @property
    def accounts_file(self) -> Path:
        return self.workdir / "accounts"

    @property
    def has_ftp_schema(self) -> bool:
        """Whether the FTP schema is among ``schemas`` (pure-ftpd's access rule names its attributes)."""
        return self.load_ispctl_schema and any(Path(path).name == FTP_SCHEMA_FILE for path in self.schemas)

    @property
    def has_radius_schema(self) -> bool:
        """Whether the RADIUS schemas are among ``schemas`` (FreeRADIUS's access rules name their attributes)."""
        return self.load_ispctl_schema and any(Path(path).name == RADIUS_SCHEMA_FILE for path in self.schemas)

    @property
    def has_accounts(self) -> bool:
        """False for an instance built before it carried least-privilege accounts."""
        return self.accounts_file.exists()

    @property
    def socket_path(self) -> Path:
        return socket_path(self.workdir / "ldapi", self.workdir, "ispctl-ldapi", _MAX_SOCKET_PATH)

    # -- public facts ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ldap://{_HOST}:{self.port}"

    @property
    def ldapi_url(self) -> str:
        return "ldapi://" + quote(str(self.socket_path), safe="")

    @property
    def bind_dn(self) -> str:
        return self._root_dn

    @property
    def password(self) -> str:
        return self._password

    @property
    def managed_base(self) -> str:
        return self._managed_base

    @property
    def suffix(self) -> str:
        return self._suffix

    @property
    def foreign_base(self) -> str:
        """Container of the data ispctl must never touch."""
        return f"{FOREIGN_PEOPLE_RDN},{self._suffix}"

    @property
    def marker(self) -> str:
        return str(self.config_dir)

    def env(self) -> dict[str, str]:
        return {
            "ISPCTL_LDAP_URL": self.url,
            "ISPCTL_LDAP_BIND_DN": self.bind_dn,
            "ISPCTL_LDAP_PASSWORD": self.password,
            "ISPCTL_LDAP_BASE_DN": self.managed_base,
        }

    def account_env(self, role: str = "apply") -> dict[str, str]:
        """Every account's ``*_BIND_DN``/``*_PASSWORD`` (sandbox/accounts.py), with ``role``'s as
        ispctl's own ``ISPCTL_LDAP_*`` (``apply`` writes; ``plan`` and the services only read)."""
        accounts = accounts_env(self._suffix, load_passwords(self.accounts_file))
        prefix = ENV_PREFIX[role]
        own = {"ISPCTL_LDAP_BIND_DN": accounts[f"{prefix}_BIND_DN"],
               "ISPCTL_LDAP_PASSWORD": accounts[f"{prefix}_PASSWORD"]}
        return {**self.env(), **accounts, **own}

    def to_state(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "port": self.port,
            "suffix": self._suffix,
            "managed_base": self._managed_base,
            "root_dn": self._root_dn,
            "password": self._password,
            "nosync": self.nosync,
            "load_ispctl_schema": self.load_ispctl_schema,
            "schemas": list(self.schemas),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SlapdInstance:
        defaults: dict[str, Any] = {}  # a new instance: only the work directory is known
        for key, name in (("suffix", "suffix"), ("managed_base", "managed_base"), ("root_dn", "root_dn"),
                          ("password", "root_password")):
            if key in state:
                defaults[name] = state[key]
        return cls(
            Path(state["workdir"]),
            port=state.get("port"),
            nosync=state.get("nosync", True),
            load_ispctl_schema=state.get("load_ispctl_schema", True),
            schemas=tuple(state["schemas"]) if "schemas" in state else None,
            **defaults,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        slapd = require_binary("slapd", "slapd", install=_INSTALL_HINT)
        require_binary("ldapadd", "ldap-utils", install=_INSTALL_HINT)
        if self.running():
            raise DaemonError(f"slapd in {self.workdir} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        built = (self.config_dir / "cn=config.ldif").exists()
        if built and self.password_file.exists() and (
            self.password_file.read_text(encoding="utf-8") != self._password
        ):
            raise DaemonError(f"slapd in {self.workdir} was built with another root password")
        # Created 0600 before the secret is written, so it is never readable by others.
        self.password_file.touch(mode=0o600)
        self.password_file.chmod(0o600)
        self.password_file.write_text(self._password, encoding="utf-8")
        if not built:
            load_passwords(self.accounts_file)
            self._build_config()
        # The socket of a killed slapd stays behind and makes the next bind fail.
        self.socket_path.unlink(missing_ok=True)
        argv = [slapd, "-F", str(self.config_dir), "-h", f"{self.url}/ {self.ldapi_url}", "-d", "0"]
        self._run(argv, _HOST, self.port, detach)
        if built and self.load_ispctl_schema:
            self._load_new_schemas()
        if not (self.workdir / "seeded").exists():
            try:
                self._seed()
            except Exception:
                self.stop()
                raise

    def _load_new_schemas(self) -> None:
        """Load into the running slapd the schemas in ``schemas`` its config does not have yet."""
        for path in self.schemas:
            text = Path(path).read_text(encoding="utf-8")
            name = _rdn(next(line[4:] for line in text.splitlines() if line.startswith("dn: ")))[1]
            found = self.external("ldapsearch", "-LLL", "-b", "cn=schema,cn=config", f"(cn={{*}}{name})", "1.1")
            if found.returncode == 0 and "dn: " in found.stdout:
                continue
            added = self.external("ldapadd", "-f", path)
            if added.returncode != 0:
                self.stop()
                raise DaemonError(f"cannot load the schema {path} into slapd in {self.workdir}:\n{added.stderr}")

    def _stopped(self) -> None:
        self.socket_path.unlink(missing_ok=True)

    def _config_ldif(self) -> str:
        uid, gid = os.geteuid(), os.getegid()
        peer = f"gidNumber={gid}+uidNumber={uid},cn=peercred,cn=external,cn=auth"
        schemas = [(_SYSTEM_SCHEMA_DIR / f"{name}.ldif").as_uri() for name in _SYSTEM_SCHEMAS]
        if self.load_ispctl_schema:
            schemas.append(ISPCTL_SCHEMA.absolute().as_uri())
            # The services' schemas may build on ispctl's (its status attribute, its marker).
            schemas += [Path(path).absolute().as_uri() for path in self.schemas]
        includes = "".join(f"include: {uri}\n\n" for uri in schemas)
        wanted = _STANDARD_INDEXES + (ISPCTL_INDEXES if self.load_ispctl_schema else ())
        indexes = "".join(f"olcDbIndex: {index}\n" for index in wanted)
        # The least-privilege accounts' rules for the managed subtree come first (first match
        # wins); the two after them cover the rest of the suffix, as before.
        ours = access_rules(self._managed_base, sandbox_accounts(self._suffix, self.has_ftp_schema,
                                                                     self.has_radius_schema))
        rules = "".join(f"olcAccess: {{{index}}}{rule}\n" for index, rule in enumerate(ours))
        return (
            "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n\n"
            f"dn: cn=module{{0}},cn=config\nobjectClass: olcModuleList\ncn: module{{0}}\n"
            f"olcModulePath: {_MODULE_PATH}\nolcModuleLoad: back_mdb\n\n"
            "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n"
            f"{includes}"
            "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
            "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend\n\n"
            # Local root over ldapi may change cn=config at run time (loading schemas, indexes).
            "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
            f"olcDatabase: {{0}}config\nolcAccess: {{0}}to * by dn.exact=\"{peer}\" manage"
            " by * break\n\n"
            "dn: olcDatabase={1}mdb,cn=config\nobjectClass: olcDatabaseConfig\n"
            f"objectClass: olcMdbConfig\nolcDatabase: {{1}}mdb\nolcDbDirectory: {self.data_dir}\n"
            f"olcSuffix: {self._suffix}\nolcRootDN: {self._root_dn}\n"
            f"olcRootPW: {ssha(self._password)}\n"
            # mdb's 10 MiB default fills up at ~8k entries; the map is sparse, so be generous.
            f"olcDbMaxSize: {4 * 1024**3}\n"
            # Otherwise non-root binds are capped at 500 results.
            "olcSizeLimit: unlimited\n"
            f"olcDbNoSync: {'TRUE' if self.nosync else 'FALSE'}\n"
            f"{indexes}"
            f"{rules}"
            f"olcAccess: {{{len(ours)}}}to attrs=userPassword by self write by anonymous auth"
            f" by dn.exact=\"{peer}\" manage by * none\n"
            f"olcAccess: {{{len(ours) + 1}}}to * by dn.exact=\"{peer}\" manage by users read by * none\n"
        )

    def _build_config(self) -> None:
        slapadd = require_binary("slapadd", "slapd", install=_INSTALL_HINT)
        # Build into a scratch dir and rename at the end, so a failed build never leaves a
        # half-made slapd.d that a later start() would mistake for a finished one.
        scratch = self.workdir / "slapd.d.new"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        self.data_dir.mkdir(exist_ok=True)
        ldif = self.workdir / "config.ldif"
        ldif.write_text(self._config_ldif(), encoding="utf-8")
        ldif.chmod(0o600)
        result = subprocess.run(
            [slapadd, "-n0", "-F", str(scratch), "-l", str(ldif)],
            capture_output=True, text=True, check=False,
        )
        ldif.unlink()
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise DaemonError(f"slapadd -n0 failed ({result.returncode}):\n{result.stderr}")
        scratch.rename(self.config_dir)

    def _seed(self) -> None:
        chain: list[str] = []
        dn = self._managed_base
        while _norm(dn) != _norm(self._suffix):
            chain.append(dn)
            dn = _parent(dn)
        records = [_container_ldif(self._suffix)]
        records += [_container_ldif(d) for d in reversed(chain)]
        records.append(_container_ldif(self.foreign_base))
        if self.has_accounts:
            records += accounts_ldif(self._suffix, load_passwords(self.accounts_file), ssha)
        records.append(
            f"dn: {FOREIGN_PERSON_RDN},{self.foreign_base}\nobjectClass: inetOrgPerson\n"
            "uid: postmaster-human\ncn: Postmaster Human\nsn: Human\n"
            f"mail: postmaster@{self._suffix_domain()}\n"
            "description: Hand-made entry outside the ispctl subtree; ispctl must not touch it\n"
        )
        # -c plus the check below: a start interrupted half-way through seeding may already
        # have added some of these, which must not stop the rest from being added now.
        result = self.ldapadd("\n".join(records), continue_on_error=True)
        present = {_norm(line[4:]) for line in
                   self.ldapsearch(self._suffix, "(objectClass=*)", "1.1").splitlines()
                   if line.startswith("dn: ")}
        wanted = [record.split("\n", 1)[0][4:] for record in records]
        if any(_norm(dn) not in present for dn in wanted):
            raise DaemonError(f"could not add the base entries:\n{result.stderr}")
        (self.workdir / "seeded").write_text("base entries added\n", encoding="utf-8")

    def _suffix_domain(self) -> str:
        labels = [v for a, v, _s in parse_dn(self._suffix) if a.lower() == "dc"]
        return ".".join(labels) or "example.net"

    # -- command-line helpers (tests use these to change the directory behind ispctl's back) --

    def _simple_bind_args(self) -> list[str]:
        return ["-x", "-H", self.url, "-D", self._root_dn, "-y", str(self.password_file)]

    def ldapmodify(self, ldif: str, *, continue_on_error: bool = False,
                   add: bool = False) -> subprocess.CompletedProcess[str]:
        """Feed LDIF to the real ldapmodify as the root DN; the result is returned, not checked."""
        argv = [require_binary("ldapmodify", "ldap-utils", install=_INSTALL_HINT)]
        argv += self._simple_bind_args()
        argv += ["-c"] if continue_on_error else []
        argv += ["-a"] if add else []
        return subprocess.run(argv, input=ldif, capture_output=True, text=True, check=False)

    def ldapadd(self, ldif: str, *, continue_on_error: bool = False
                ) -> subprocess.CompletedProcess[str]:
        return self.ldapmodify(ldif, continue_on_error=continue_on_error, add=True)

    def ldapsearch(self, base: str, filter: str = "(objectClass=*)", *attrs: str,
                   scope: str = "sub") -> str:
        """LDIF text (unwrapped) of what the real ldapsearch finds; '' when base does not exist."""
        argv = [require_binary("ldapsearch", "ldap-utils", install=_INSTALL_HINT)]
        argv += self._simple_bind_args()
        argv += ["-LLL", "-o", "ldif-wrap=no", "-s", scope, "-b", base, filter, *attrs]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 32:  # noSuchObject
            return ""
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, argv, result.stdout, result.stderr)
        return result.stdout

    def external(self, tool: str, *args: str, input: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        """Run ldapadd/ldapmodify/ldapsearch as the local root over ldapi (SASL EXTERNAL).

        This is the identity allowed to change cn=config at run time, e.g.
        ``external("ldapadd", "-f", "ispctl.ldif")`` loads the ispctl schema into a running slapd.
        """
        argv = [require_binary(tool, "ldap-utils", install=_INSTALL_HINT),
                "-Q", "-Y", "EXTERNAL", "-H", self.ldapi_url, *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
