"""The ``cluster:`` section of ``ispctl.yaml``: the hosts of a distributed ISP and their roles.

ispctl writes one primary per service (the directory's provider, the DNS primary); the other
hosts hold replicas the services' own replication keeps (README "Replication"). The section
names them, so apply can wait for them and ``ispctl status`` can show them::

    cluster:
      wait: 1m                       # apply waits this long for every replica (0: checks once)
      hosts:
        mx1.example.net:
          roles: [directory_replica, dns_secondary, mail_store, imap]
          directory: ldap://mx1.example.net     # its replica (default ldap://<host>)
          dns: 192.0.2.53:53                    # its secondary named (default <host>:53)
          capacity: 20000                       # mailboxes it takes (placement, README "Cluster")
          lmtp: 192.0.2.25:24                   # where its LMTP takes mail (default <host>:24)
          doveadm: 192.0.2.25:12345             # its doveadm server, for moves (default <host>:12345)

Roles are a closed list; a service reads the hosts of its own role (``with_role``). Where a
host's replica answers is public (URLs and addresses, never credentials: replicas are read with
the primary's connection settings from the environment).
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import re
from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlparse

from pydantic import AfterValidator, Field, model_validator

from ispctl.reconciler.estate.model import Duration, Section, Strict

Role = Literal["directory_replica", "dns_secondary", "mail_store", "imap", "smtp", "web", "ftp", "radius"]
ROLES: tuple[str, ...] = get_args(Role)
# Which role each endpoint belongs to: a host names one only when it has the role.
ENDPOINTS = {"directory": "directory_replica", "dns": "dns_secondary", "lmtp": "mail_store", "doveadm": "mail_store",
             "web_files": "web"}
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_HOSTPORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?")


def _ldap_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("ldap", "ldaps", "ldapi") or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an LDAP URL (ldap://host:port, ldaps://host or ldapi://%2Fpath)")
    if parsed.scheme != "ldapi" and not parsed.hostname:
        raise ValueError(f"{value!r} names no host")
    if parsed.username or parsed.password or parsed.query:
        raise ValueError("an LDAP URL here names the server only: no user, password or query (credentials come "
                         "from the environment)")
    return value


def _host_port(value: str) -> str:
    found = _HOSTPORT.fullmatch(value)
    if found is None or (found["port"] is not None and not 0 < int(found["port"]) < 65536):
        raise ValueError(f"{value!r} is not host:port (192.0.2.53:53, [2001:db8::53]:53 or ns2.example.net)")
    return value


def _host_name(value: str) -> str:
    if not _HOST.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name (lower-case letters, digits, '-' and dots)")
    return value


LdapUrl = Annotated[str, AfterValidator(_ldap_url)]
HostPort = Annotated[str, AfterValidator(_host_port)]
HostName = Annotated[str, AfterValidator(_host_name)]


class ClusterHost(Strict):
    roles: list[Role] = Field(min_length=1, description="what the host does: " + ", ".join(ROLES))
    directory: LdapUrl | None = Field(None, description="where its directory replica answers (default ldap://<host>)")
    dns: HostPort | None = Field(None, description="where its secondary named answers (default <host>:53)")
    # Placement (reconciler/estate/placement.py): how many objects of its roles it takes.
    capacity: int = Field(1000, ge=0, description="objects (mailboxes) it takes; weights the default placement, "
                          "0 takes no new ones")
    lmtp: HostPort | None = Field(None, description="where its LMTP server takes mail (default <host>:24)")
    doveadm: HostPort | None = Field(None, description="where its doveadm server answers, for mailbox moves "
                                     "(default <host>:12345)")
    web_files: str | None = Field(None, description="where the central run's rsync reaches this web host's web "
                                  "root, for site moves (default <host>:<web.web_root>)")

    @model_validator(mode="after")
    def _endpoints_of_its_roles(self) -> Self:
        for name, role in ENDPOINTS.items():
            if getattr(self, name) is not None and role not in self.roles:
                raise ValueError(f"{name}: is where a {role} answers, but the host's roles do not include {role}")
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles: a role is listed twice")
        return self


class ClusterSettings(Strict):
    wait: Duration = Field(60, ge=0, description="how long apply waits for every replica to catch up (0: check once)")
    hosts: dict[HostName, ClusterHost] = Field(default_factory=dict, description="host name -> its roles")
    # This machine (``ISPCTL_HOST``): host-local providers act only on the objects placed on it.
    this_host: HostName | None = Field(None, description="this machine's name among hosts (set by ISPCTL_HOST)")

    @model_validator(mode="after")
    def _this_host_is_a_host(self) -> Self:
        if self.this_host is not None and self.this_host not in self.hosts:
            raise ValueError(f"this_host (ISPCTL_HOST) {self.this_host!r} is not one of cluster.hosts: "
                             + (", ".join(sorted(self.hosts)) or "none declared"))
        return self

    def with_role(self, role: str) -> list[tuple[str, ClusterHost]]:
        """The hosts that have ``role``, by name."""
        return sorted((name, host) for name, host in self.hosts.items() if role in host.roles)

    def directory_url(self, name: str) -> str:
        host = self.hosts[name]
        return host.directory or f"ldap://{name}"

    def dns_address(self, name: str) -> str:
        host = self.hosts[name]
        return host.dns or f"{name}:53"

    def lmtp_address(self, name: str) -> str:
        host = self.hosts[name]
        return host.lmtp or f"{name}:24"

    def web_files_location(self, name: str, web_root: str) -> str:
        host = self.hosts[name]
        return host.web_files or f"{name}:{web_root}"

    def doveadm_address(self, name: str) -> str:
        host = self.hosts[name]
        return host.doveadm or f"{name}:12345"


CLUSTER = Section("site", "cluster", ClusterSettings, default=ClusterSettings(),
                  description="the hosts of the cluster and their roles: replicas apply waits for (README Replication)")
