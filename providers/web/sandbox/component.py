"""Apache and php-fpm together: ``WebServers`` for the tests, ``WebComponent`` for ``ispctl sandbox``.

Both daemons share one ``WebLayout`` (web root, archive, PHP sockets): php-fpm creates the
sites' sockets there and Apache's workers connect to them. php-fpm starts first, so a site file
whose PHP handler points at a pool finds its socket as soon as Apache serves.

In the sandbox a pebble starts too: the ACME CA that fetches HTTP-01 tokens from the sandbox's
Apache (every name resolves to 127.0.0.1 through a ``LoopbackResolver`` beside it: the estate's
zones hold the addresses of its real web host), so ``https: auto`` sites get real certificates
in the apply that creates them. The roots pebble made are kept in ``pebble/roots.pem``
(``ISPCTL_PEBBLE_ROOTS``), so a restarted sandbox's sites still verify.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.web.sandbox.apache import ApacheInstance, WebLayout, untraversable
from ispctl.providers.web.sandbox.pebble import LoopbackResolver, PebbleInstance
from ispctl.providers.web.sandbox.phpfpm import PhpFpmInstance
from ispctl.reconciler.harness.daemons import port_accepts
from ispctl.reconciler.harness.sandbox import Component

# World-traversable place for the public part when the sandbox root is not (see ``public_dir``).
FALLBACK_PARENT = Path("/var/tmp")
FALLBACK_PREFIX = "ispctl-sandbox-web-"


class WebServers:
    """One Apache and one php-fpm under ``workdir`` (``apache/``, ``php-fpm/``) sharing ``public``."""

    def __init__(self, workdir: Path, *, public: Path | None = None, port: int | None = None,
                 https_port: int | None = None) -> None:
        self.workdir = Path(workdir).absolute()
        public = Path(public).absolute() if public is not None else self.workdir / "public"
        self.apache = ApacheInstance(self.workdir / "apache", public=public, port=port, https_port=https_port)
        self.php = PhpFpmInstance(self.workdir / "php-fpm", public=public)

    @property
    def layout(self) -> WebLayout:
        return self.apache.layout

    def start(self, detach: bool = False) -> None:
        self.php.start(detach=detach)
        try:
            self.apache.start(detach=detach)
        except BaseException:
            self.php.stop()
            raise

    def stop(self) -> None:
        """Apache first: it is php-fpm's client."""
        try:
            self.apache.stop()
        finally:
            self.php.stop()

    def running(self) -> bool:
        return self.apache.running() and self.php.running()

    def env(self) -> dict[str, str]:
        """Every ``ISPCTL_WEB_*`` variable the web provider needs to reach these two daemons."""
        return {**self.apache.env(), **self.php.env()}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "public": str(self.apache.layout.public),
                "port": self.apache.port, "https_port": self.apache.https_port}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WebServers:
        public = state.get("public")
        return cls(Path(state["workdir"]), public=Path(public) if public else None, port=state.get("port"),
                   https_port=state.get("https_port"))


def public_dir(workdir: Path) -> Path:
    """Where a sandbox in ``workdir`` keeps its web root and PHP sockets.

    Inside the work directory when Apache's workers and the sites' uids can get there; else (a
    checkout under /root, mode 0700) under /var/tmp, named after the sandbox and carrying a
    ``sandbox-root`` file that says whose it is.
    """
    inside = workdir.absolute() / "public"
    if untraversable(inside) is None:
        return inside
    digest = hashlib.sha256(str(workdir.absolute()).encode()).hexdigest()[:12]
    outside = FALLBACK_PARENT / f"{FALLBACK_PREFIX}{digest}"
    outside.mkdir(mode=0o755, exist_ok=True)
    (outside / "sandbox-root").write_text(str(workdir.absolute().parent) + "\n", encoding="utf-8")
    return outside


class WebComponent(Component):
    """Apache + php-fpm on loopback for ``ispctl sandbox``, and pebble with its loopback resolver;
    the web service's ``sandbox``."""

    name = "web"
    providers = ("web",)

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str]) -> dict[str, Any]:
        state: dict[str, Any] = {"workdir": str(workdir)}
        if previous is not None:
            # Keep the last run's ports (exported environments keep working) unless something
            # else took them while the sandbox was down, and its public dir (the sites' files).
            state.update(port=_free_again(previous.get("port")), https_port=_free_again(previous.get("https_port")),
                         public=previous.get("public"))
        if not state.get("public"):
            state["public"] = str(public_dir(workdir))
        servers = WebServers.from_state(state)
        servers.start(detach=True)
        state = servers.to_state()
        saved = previous or {}
        resolver = LoopbackResolver.from_state(_ports_again(saved.get("resolver"), workdir / "resolver",
                                                            LoopbackResolver.port_keys))
        pebble = _pebble(workdir, saved.get("pebble"), servers.apache.port, resolver.port)
        try:
            resolver.start(detach=True)
            state["resolver"] = resolver.to_state()
            pebble.start(detach=True)
        except BaseException:
            resolver.stop()
            servers.stop()
            raise
        state["pebble"] = pebble.to_state()
        return state

    @staticmethod
    def _acme(state: dict[str, Any]) -> list[PebbleInstance | LoopbackResolver]:
        found: list[PebbleInstance | LoopbackResolver] = []
        if state.get("pebble"):
            found.append(PebbleInstance.from_state(state["pebble"]))
        if state.get("resolver"):
            found.append(LoopbackResolver.from_state(state["resolver"]))
        return found

    def down(self, state: dict[str, Any]) -> bool:
        servers = WebServers.from_state(state)
        acme = self._acme(state)
        was_running = servers.apache.running() or servers.php.running() or any(d.running() for d in acme)
        try:
            for daemon in acme:
                daemon.stop()
        finally:
            servers.stop()
        return was_running

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        servers = WebServers.from_state(state)
        running = servers.running() and all(d.running() for d in self._acme(state))
        return {"running": running, "pid": servers.apache.pid, "url": servers.apache.url}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        env = WebServers.from_state(state).env()
        if state.get("pebble"):
            env.update(PebbleInstance.from_state(state["pebble"]).env())
        return env

    def purge(self, state: dict[str, Any]) -> None:
        """Remove a public dir kept under /var/tmp (see ``public_dir``)."""
        public = Path(str(state.get("public") or ""))
        if public.parent == FALLBACK_PARENT and public.name.startswith(FALLBACK_PREFIX):
            shutil.rmtree(public, ignore_errors=True)


def _free_again(port: object) -> int | None:
    """A saved port, unless something else answers on it now."""
    return int(str(port)) if port and not port_accepts("127.0.0.1", int(str(port))) else None


def _ports_again(previous: Mapping[str, Any] | None, workdir: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The last run's state with its ports kept where still free."""
    saved = dict(previous or {})
    for key in keys:
        saved[key] = _free_again(saved.get(key))
    saved["workdir"] = str(workdir)
    return saved


def _pebble(workdir: Path, previous: Mapping[str, Any] | None, http_port: int, dns_port: int) -> PebbleInstance:
    """Pebble pointed at this run's Apache and resolver, on the last run's ports when still free
    (its TLS files and the roots it made are kept in ``workdir/pebble``)."""
    saved = _ports_again(previous, workdir / "pebble", PebbleInstance.port_keys)
    saved.update(http_port=http_port, dns_port=dns_port)
    return PebbleInstance.from_state(saved)
