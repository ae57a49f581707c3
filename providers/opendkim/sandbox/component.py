"""The mail-out part of ``ispctl sandbox``: OpenDKIM, a Postfix that signs through it, and a sink.

Postfix (smtpd on a free loopback port, ``ISPCTL_SMTP_URL``) relays everything to an
``smtp-sink`` that keeps each message in ``ISPCTL_SINK_DIR``; OpenDKIM starts with empty tables
in ``ISPCTL_OPENDKIM_DIR``. What it signs is what an operator would install: ``ispctl render
opendkim --out "$ISPCTL_OPENDKIM_DIR"`` (its ``--conf-dir`` and ``--socket`` default to this
instance's), then ``kill -USR1 "$(cat "$ISPCTL_OPENDKIM_PIDFILE")"`` makes OpenDKIM read them again;
or ``ispctl apply`` (the sandbox enables the ``opendkim`` provider) keeps the tables and signals it.
Keys are made in the sandbox's own key directory (``ISPCTL_DKIM_DIR``), never in the site's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.opendkim.sandbox.daemon import OpenDkimInstance
from ispctl.providers.opendkim.sandbox.postfix import PostfixInstance, SmtpSinkInstance
from ispctl.reconciler.contract import output
from ispctl.reconciler.harness.daemons import port_accepts
from ispctl.reconciler.harness.instance import DaemonInstance
from ispctl.reconciler.harness.sandbox import Component

KEY_DIR = "dkim"


def _port(saved: Mapping[str, Any] | None, key: str) -> int | None:
    """The last run's port, unless something else took it while the sandbox was down."""
    port = (saved or {}).get(key)
    return int(port) if port and not port_accepts("127.0.0.1", int(port)) else None


class OpenDkimComponent(Component):
    name = "opendkim"
    # ispctl apply keeps the instance's signing tables (ISPCTL_OPENDKIM_DIR, reload by its pidfile).
    providers = ("opendkim",)
    extra_dirs = (KEY_DIR,)

    @staticmethod
    def _instances(workdir: Path, state: Mapping[str, Any] | None) -> tuple[SmtpSinkInstance, OpenDkimInstance,
                                                                            PostfixInstance]:
        state = state or {}
        sink = SmtpSinkInstance(workdir / "sink", port=_port(state.get("sink"), "port"))
        signer = OpenDkimInstance(workdir / "opendkim", workdir.parent / KEY_DIR,
                                  port=_port(state.get("opendkim"), "port"))
        postfix = PostfixInstance(workdir / "postfix", milters=signer.milter, relayhost=f"[127.0.0.1]:{sink.port}",
                                  port=_port(state.get("postfix"), "port"))
        return sink, signer, postfix

    @staticmethod
    def _saved(state: Mapping[str, Any]) -> tuple[SmtpSinkInstance, OpenDkimInstance, PostfixInstance | None]:
        postfix = PostfixInstance.from_state(state["postfix"]) if state.get("postfix") else None
        return SmtpSinkInstance.from_state(state["sink"]), OpenDkimInstance.from_state(state["opendkim"]), postfix

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str]) -> dict[str, Any]:
        sink, signer, postfix = self._instances(workdir, previous)
        (workdir.parent / KEY_DIR).mkdir(mode=0o750, parents=True, exist_ok=True)
        started: list[DaemonInstance] = []
        # A private Postfix needs root (its master switches to the postfix user); without root
        # the sandbox still signs through OpenDKIM, only no Postfix submits to it.
        instances: list[DaemonInstance] = [sink, signer, postfix] if os.geteuid() == 0 else [signer]
        if os.geteuid() != 0:
            output.err().print("note: not root, so the sandbox runs OpenDKIM without its Postfix", markup=False)
        try:
            for instance in instances:
                # A restart keeps the tables rendered into the sandbox last time (written by
                # 'ispctl render opendkim'), not the empty ones the first start writes.
                same_port = (previous or {}).get("opendkim", {}).get("port") == signer.port
                if isinstance(instance, OpenDkimInstance) and same_port and instance.config_file.exists():
                    instance.start_with_existing_config(detach=True)
                else:
                    instance.start(detach=True)
                started.append(instance)
        except Exception:
            for instance in reversed(started):
                instance.stop()
            raise
        running = {type(i) for i in started}
        return {"sink": sink.to_state(), "opendkim": signer.to_state(),
                "postfix": postfix.to_state() if PostfixInstance in running else None}

    def down(self, state: dict[str, Any]) -> bool:
        was_running = False
        for instance in reversed(self._saved(state)):
            if instance is not None:
                was_running = instance.running() or was_running
                instance.stop()
        return was_running

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        _, signer, postfix = self._saved(state)
        main = postfix or signer
        return {"running": all(i.running() for i in (signer, postfix) if i is not None), "pid": main.pid,
                "url": main.url}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        sink, signer, postfix = self._saved(state)
        return {**(sink.env() if postfix is not None else {}), **signer.env(), **(postfix.env() if postfix else {}),
                "ISPCTL_OPENDKIM_DIR": str(signer.workdir), "ISPCTL_OPENDKIM_SOCKET": signer.url,
                "ISPCTL_OPENDKIM_PIDFILE": str(signer.pidfile)}
