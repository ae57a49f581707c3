"""OpenDKIM, Postfix and the sink in ``ispctl sandbox``: mail leaves unsigned until the operator's
render is installed and OpenDKIM told to reload; a restart keeps the rendered tables; down stops all."""

from __future__ import annotations

import email
from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder, mailbox
from test_opendkim_daemon import signature_tags, submit_and_receive
from typer.testing import CliRunner

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.opendkim.sandbox.component import OpenDkimComponent
from ispctl.reconciler.cli.app import app
from ispctl.reconciler.harness.daemons import pids_matching


def test_the_sandbox_signs_what_render_opendkim_installed(tmp_path: Path) -> None:
    component = OpenDkimComponent()
    workdir = tmp_path / "sandbox" / "opendkim"
    state = component.up(workdir, None, {})
    try:
        env = component.env(state)
        sink, signer, postfix = component._saved(state)
        assert postfix is not None  # the tests run as root
        unsigned = submit_and_receive(postfix, sink, "anna@acme.example")
        assert email.message_from_bytes(unsigned)["DKIM-Signature"] is None  # empty tables: nothing to sign with

        dns: dict[str, Any] = {"ns": ["ns1.example.net."], "dkim": {"selector": "s1", "bits": 1024}}
        builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
        builder.tenant("acme")
        builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
        cli_env = {**env, "ISPCTL_DNS_SERVER": None}
        runner = CliRunner()
        init = runner.invoke(app, ["dkim", "init", "--dir", str(builder.root)], env=cli_env)
        assert init.exit_code == 0, init.output
        assert (Path(env["ISPCTL_DKIM_DIR"]) / "acme.example" / "s1.private").exists()  # the sandbox's key dir
        done = runner.invoke(app, ["render", "opendkim", "--out", env["ISPCTL_OPENDKIM_DIR"], "--dir",
                                   str(builder.root)], env=cli_env)
        assert done.exit_code == 0, done.output
        signer.reload()
        for _ in range(100):  # the reload is asynchronous: send until a signed one arrives
            tags = signature_tags(submit_and_receive(postfix, sink, "anna@acme.example"), required=False)
            if tags:
                break
        assert (tags["d"], tags["s"]) == ("acme.example", "s1")

        assert component.down(state)
        state = component.up(workdir, state, {})
        sink, signer, postfix = component._saved(state)
        assert postfix is not None
        tags = signature_tags(submit_and_receive(postfix, sink, "anna@acme.example"))
        assert (tags["d"], tags["s"]) == ("acme.example", "s1")  # the rendered tables survived the restart
    finally:
        assert component.down(state)
    assert pids_matching(str(workdir)) == []
    # Queue and sink kept outside the 0700 temp dir (see PostfixInstance.spool) go with the daemons.
    assert not postfix.spool.exists() and not sink.mail_dir.exists()


def test_in_the_sandbox_a_rotation_is_planned_and_applied_step_by_step(tmp_path: Path, named: NamedInstance) -> None:
    assert "opendkim" in OpenDkimComponent.providers  # 'ispctl sandbox env' enables the provider
    component = OpenDkimComponent()
    state = component.up(tmp_path / "sandbox" / "opendkim", None, {})
    try:
        sink, signer, postfix = component._saved(state)
        assert postfix is not None
        dns: dict[str, Any] = {"ns": ["ns1.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
                               "dkim": {"selector": "s1", "bits": 1024, "grace_days": 0}}
        builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
        builder.tenant("acme")
        builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
        env = {**component.env(state), **named.env(), "ISPCTL_PROVIDERS": "dns,opendkim"}

        def cli(*args: str) -> Any:
            done = CliRunner().invoke(app, ["--no-color", *args, "--dir", str(builder.root)], env=env)
            assert done.exit_code in (0, 2), done.output
            return done

        def signed_with(selector: str) -> None:
            for _ in range(20):  # SIGUSR1 is taken in a thread of OpenDKIM's own: rarely, one more message
                tags = signature_tags(submit_and_receive(postfix, sink, "anna@acme.example"), required=False)
                if tags.get("s") == selector:
                    return
            raise AssertionError(f"never signed with {selector}: {tags}")

        cli("dkim", "init")
        cli("apply", "--auto-approve")
        signed_with("s1")
        cli("dkim", "rotate", "--domain", "acme.example")
        plan = cli("plan").stdout
        # Listed in the order they are applied: the new record, then the switch to it.
        assert plan.index("# dns.acme.example/s2._domainkey/TXT will be created") < \
            plan.index("# signing.acme.example will be updated in-place"), plan
        assert '~ selector = "s1" -> "s2"' in plan, plan
        cli("apply", "--auto-approve")
        signed_with("s2")
        cli("dkim", "retire", "--domain", "acme.example", "--yes")
        plan = cli("plan").stdout
        assert "# dns.acme.example/s1._domainkey/TXT will be destroyed" in plan and "# signing." not in plan, plan
        cli("apply", "--auto-approve")
        assert cli("plan", "--detailed-exitcode").exit_code == 0
    finally:
        assert component.down(state)
