"""A real Apache 2.4 on loopback, configured from scratch in a work directory.

Used by the test-suite and by ``ispctl sandbox``: ``apache2 -DFOREGROUND -f <workdir>/apache2.conf``
with its own ServerRoot, PidFile, runtime and mutex directories (so two instances side by side
share nothing under /run or /var/lock), Debian's modules loaded one by one, an HTTP and an HTTPS
port on 127.0.0.1, and ``IncludeOptional <sites_dir>/*.conf`` for the site files ispctl renders.

Nothing is read from ``/etc/apache2`` (its ``apache2.conf`` and ``envvars`` name the system's
paths): the config written here holds literal paths, so ``apache2 -t -f`` and ``apache2ctl -f``
see exactly what the running server sees. The parent runs as root; the workers as ``www-data``
(``User``/``Group``), which is why the document roots and PHP sockets live in a world-traversable
public directory (``WebLayout``) rather than in pytest's 0700 temp dir.
"""

from __future__ import annotations

import datetime
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ispctl.reconciler.harness.daemons import (
    DaemonError,
    free_port,
    log_tail,
    port_accepts,
    read_pid,
    require_binary,
)
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
RUN_USER = "www-data"
_MODULE_DIR = Path("/usr/lib/apache2/modules")
# Debian's module set a hosting config needs (log_config and unixd are compiled in). Order
# matters only for the MPM, which must come first.
MODULES = (
    "mpm_event", "authz_core", "authz_host", "authn_core", "auth_basic", "authn_file", "authz_user",
    "alias", "dir", "mime", "rewrite", "headers", "socache_shmcb", "ssl", "proxy", "proxy_fcgi",
    "setenvif", "env",
)
# What Apache logs once a (re)configured generation serves: AH00489.
_RESUMING = "resuming normal operations"


@dataclass(frozen=True)
class WebLayout:
    """The part of a web host that Apache's workers and the sites' PHP users must reach.

    Workers run as www-data and PHP pools as the sites' numeric uids, none of which can enter a
    0700 directory of root's: ``public`` and every directory above it must be world-traversable.
    It holds the web root, the pools' sockets, the ACME challenge dir and the site files (the
    workers read the htpasswd files ispctl keeps beside them at request time).
    The archive sits beside the web root so that archiving a site is a rename on one filesystem.
    """

    public: Path

    @property
    def web_root(self) -> Path:
        return self.public / "www"

    @property
    def archive_dir(self) -> Path:
        return self.public / "archive"

    @property
    def socket_dir(self) -> Path:
        return self.public / "run"

    @property
    def sites_dir(self) -> Path:
        """Site files; here because workers read what they name at request time (htpasswd files)."""
        return self.public / "sites"

    @property
    def challenge_dir(self) -> Path:
        """ACME HTTP-01 tokens, served by every site at ``/.well-known/acme-challenge/``."""
        return self.public / "challenge"

    def create(self) -> None:
        self.public.mkdir(mode=0o755, parents=True, exist_ok=True)
        for path in (self.public, self.web_root, self.socket_dir, self.challenge_dir, self.sites_dir):
            path.mkdir(mode=0o755, exist_ok=True)
            path.chmod(0o755)
        # Deleted sites' files: nobody but root has any business in there.
        self.archive_dir.mkdir(mode=0o700, exist_ok=True)
        blocked = untraversable(self.public)
        if blocked is not None:
            raise DaemonError(f"web sandbox: {blocked} is not world-traversable, so Apache's workers ({RUN_USER}) "
                              f"and the sites' PHP users could not reach {self.public}")


def untraversable(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that others cannot enter (o+x), or None."""
    current = Path("/")
    for part in path.absolute().parts[1:]:
        current = current / part
        if current.exists() and not current.stat().st_mode & 0o001:
            return current
    return None


def exited(pid: int | None) -> bool:
    """True when process ``pid`` is gone (or a zombie).

    Unlike ``running()`` this ignores the process's argv: php-fpm's master re-executes itself
    on a reload and retitles itself, and meanwhile its /proc cmdline is briefly empty.
    """
    if pid is None:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def self_signed(cert_file: Path, key_file: Path, name: str = "default.invalid") -> None:
    """A throwaway certificate for the default HTTPS host (the key is written 0600)."""
    # cryptography is imported here, when a certificate is made: the web service's package
    # imports this module, and a plan should not pay for the library (issue 11).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class ApacheInstance(DaemonInstance):
    """One Apache with its config, site files, certificates and logs under ``workdir``."""

    daemon_name = "apache2"
    port_keys = ("port", "https_port")

    def __init__(self, workdir: Path, *, public: Path | None = None, port: int | None = None,
                 https_port: int | None = None) -> None:
        super().__init__(workdir)
        self.layout = WebLayout(Path(public).absolute() if public is not None else self.workdir / "public")
        self.port = port or free_port(HOST)
        self.https_port = https_port or free_port(HOST)
        while self.https_port == self.port:
            self.https_port = free_port(HOST)

    # -- locations ---------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / "apache2.conf"

    @property
    def sites_dir(self) -> Path:
        """Where ispctl's site files go (``IncludeOptional <sites_dir>/*.conf``)."""
        return self.layout.sites_dir

    @property
    def certs_dir(self) -> Path:
        return self.workdir / "certs"

    @property
    def run_dir(self) -> Path:
        """Apache's own pid file, runtime files (scoreboard, SSL session cache) and mutexes."""
        return self.workdir / "run"

    @property
    def apache_pidfile(self) -> Path:
        return self.run_dir / "apache2.pid"

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    @property
    def default_cert(self) -> Path:
        return self.workdir / "default.crt"

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def https_url(self) -> str:
        return f"https://{HOST}:{self.https_port}/"

    def test_argv(self) -> list[str]:
        """``apache2 -t`` against this instance's configuration (what ispctl runs before a reload)."""
        return [require_binary("apache2", "apache2"), "-t", "-f", str(self.config_file)]

    def reload_argv(self) -> list[str]:
        """A graceful restart: apache2 reads the config (and refuses a broken one), then sends
        SIGUSR1 to the pid in this instance's PidFile."""
        return [require_binary("apache2", "apache2"), "-k", "graceful", "-f", str(self.config_file)]

    def env(self) -> dict[str, str]:
        """What points ispctl's web provider at this Apache (the php-fpm half adds its own)."""
        return {
            "ISPCTL_WEB_SITES_DIR": str(self.sites_dir),
            "ISPCTL_WEB_CERTS_DIR": str(self.certs_dir),
            "ISPCTL_WEB_ROOT": str(self.layout.web_root),
            "ISPCTL_WEB_ARCHIVE_DIR": str(self.layout.archive_dir),
            "ISPCTL_WEB_SOCKET_DIR": str(self.layout.socket_dir),
            "ISPCTL_WEB_CHALLENGE_DIR": str(self.layout.challenge_dir),
            "ISPCTL_WEB_HTTP_PORT": str(self.port),
            "ISPCTL_WEB_HTTPS_PORT": str(self.https_port),
            "ISPCTL_WEB_PROBE_ADDRESS": HOST,
            "ISPCTL_WEB_APACHE_TEST": shlex.join(self.test_argv()),
            "ISPCTL_WEB_APACHE_RELOAD": shlex.join(self.reload_argv()),
        }

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "public": str(self.layout.public), "port": self.port,
                "https_port": self.https_port}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ApacheInstance:
        public = state.get("public")
        return cls(Path(state["workdir"]), public=Path(public) if public else None, port=state.get("port"),
                   https_port=state.get("https_port"))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        apache2 = require_binary("apache2", "apache2")
        if self.running():
            raise DaemonError(f"apache2 in {self.workdir} is already running")
        if port_accepts(HOST, self.https_port):
            raise DaemonError(f"apache2: HTTPS port {HOST}:{self.https_port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self.certs_dir.mkdir(mode=0o700, exist_ok=True)
        self.layout.create()
        if not self.default_cert.exists():
            self_signed(self.default_cert, self.workdir / "default.key")
        self.config_file.write_text(self._config(), encoding="utf-8")
        # Debian's apache2ctl and module snippets read these; the config itself names literal
        # paths, so the values only keep the variables from pointing at the system's instance.
        env = dict(os.environ, APACHE_RUN_USER=RUN_USER, APACHE_RUN_GROUP=RUN_USER,
                   APACHE_RUN_DIR=str(self.run_dir), APACHE_LOCK_DIR=str(self.run_dir),
                   APACHE_PID_FILE=str(self.apache_pidfile), APACHE_LOG_DIR=str(self.workdir), LANG="C")
        mark = len(self.log_text())  # a restart appends to the same log
        self._run([apache2, "-DFOREGROUND", "-f", str(self.config_file)], HOST, self.port, detach, env=env)
        # The sockets are bound while the config is read, before the parent installs its signal
        # handlers: a graceful restart (SIGUSR1) sent then would kill it. It is ready once it
        # logs AH00489, the same line that ends a graceful restart.
        try:
            self.wait_resumed(mark, timeout=10.0)
        except DaemonError:
            self.stop()
            raise
        if not port_accepts(HOST, self.https_port):  # all Listen sockets are bound at once; check anyway
            self.stop()
            raise DaemonError(f"apache2 answers on {self.port} but not on its HTTPS port {self.https_port}; "
                              f"see {self.log_file}")

    def _config(self) -> str:
        modules = "".join(f"LoadModule {m}_module {_MODULE_DIR}/mod_{m}.so\n" for m in MODULES)
        return f"""# Written by ispctl's web sandbox; rewritten on every start.
ServerRoot "{self.workdir}"
PidFile "{self.apache_pidfile}"
DefaultRuntimeDir "{self.run_dir}"
# File-based mutexes under our own directory: the default /var/lock/apache2 would be shared by
# every instance on the machine.
Mutex file:{self.run_dir} default
# The harness keeps stdout and stderr in the same file, so start-up errors and the error log
# end up together.
ErrorLog "{self.log_file}"
LogLevel warn
LogFormat "%v %h %l %u %t \\"%r\\" %>s %b" vhost
CustomLog "{self.access_log}" vhost
ServerName {HOST}
User {RUN_USER}
Group {RUN_USER}
{modules}
# Small: the test machine has two cores shared by several test runs.
StartServers 1
ServerLimit 4
ThreadsPerChild 10
MinSpareThreads 5
MaxSpareThreads 20
MaxRequestWorkers 40
KeepAliveTimeout 2
Timeout 30

TypesConfig /etc/mime.types
DirectoryIndex index.html index.php
AccessFileName .htaccess
HostnameLookups Off
ServerTokens Prod
TraceEnable Off
SSLSessionCache "shmcb:{self.run_dir}/ssl_scache(512000)"
SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1

# As Debian's apache2.conf: nothing is served unless a site grants its own directory.
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>

Listen {HOST}:{self.port} http
Listen {HOST}:{self.https_port} https

# The first virtual host of each address answers names no site claims: 404, not some site.
<VirtualHost *:{self.port}>
    ServerName default.invalid
    RewriteEngine on
    RewriteRule ^ - [R=404,L]
</VirtualHost>
<VirtualHost *:{self.https_port}>
    ServerName default.invalid
    SSLEngine on
    SSLCertificateFile "{self.default_cert}"
    SSLCertificateKeyFile "{self.workdir / 'default.key'}"
    RewriteEngine on
    RewriteRule ^ - [R=404,L]
</VirtualHost>

IncludeOptional "{self.sites_dir}/*.conf"
"""

    # -- tools for tests, the sandbox and people ----------------------------------------

    def config_test(self) -> subprocess.CompletedProcess[str]:
        """``apache2 -t`` on this instance's config as it is on disk now (site files included)."""
        return subprocess.run(self.test_argv(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False, timeout=60)

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def graceful(self, timeout: float = 30.0) -> None:
        """Graceful restart (SIGUSR1 to the parent) and wait until the new generation serves.

        The config is tested first: a parent that rereads a broken config exits, taking every
        site down with it. Returns once Apache logs that the reconfigured server resumed; raises
        DaemonError with Apache's message when the test fails or the parent died.
        """
        pid = self.pid
        if pid is None:
            raise DaemonError(f"apache2 in {self.workdir} is not running")
        tested = self.config_test()
        if tested.returncode != 0:
            raise DaemonError(f"apache2 config test failed, not reloading: {tested.stderr.strip()}")
        mark = len(self.log_text())
        os.kill(pid, signal.SIGUSR1)
        self.wait_resumed(mark, timeout)

    def wait_resumed(self, since: int, timeout: float = 30.0) -> None:
        """Wait until Apache logs, after offset ``since`` of its log, that a (re)configured
        generation serves (AH00489); for a reload someone else signalled (``reload_argv``)."""
        deadline = time.monotonic() + timeout
        pid = read_pid(self.pidfile)
        while _RESUMING not in self.log_text()[since:]:
            if exited(pid):
                raise DaemonError(f"apache2 exited before it served; last lines of {self.log_file}:\n"
                                  f"{log_tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise DaemonError(f"apache2 did not log that it serves (AH00489) within {timeout:g} s; "
                                  f"see {self.log_file}")
            time.sleep(0.01)
