"""The estate workflows (.github/workflows/) keep the rules the README promises: plans never
see the apply secret, applies run in the protected environment and apply what was reviewed,
forks get a comment instead of a run, drift never shares a concurrency group with apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    data = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) + str(step.get("with", ""))
                     for step in job["steps"])


def test_plans_use_only_the_read_only_account_and_forks_get_a_comment() -> None:
    text = (WORKFLOWS / "plan.yml").read_text()
    assert "secrets.ISPCTL_LDAP_PASSWORD" not in text and "vars.ISPCTL_LDAP_BIND_DN" not in text
    jobs = load("plan.yml")["jobs"]
    env = jobs["plan"]["env"]
    assert env["ISPCTL_LDAP_PASSWORD"] == "${{ secrets.ISPCTL_PLAN_LDAP_PASSWORD }}"
    assert env["ISPCTL_LDAP_BIND_DN"] == "${{ vars.ISPCTL_PLAN_LDAP_BIND_DN }}"
    assert "head.repo.full_name == github.repository" in jobs["plan"]["if"]
    # The fork job runs with the base's workflow and never checks out the fork's code.
    fork = jobs["fork"]
    assert "pull_request_target" in fork["if"] and "head.repo.full_name != github.repository" in fork["if"]
    assert "checkout" not in steps_text(fork) and "no credentials for forks" in steps_text(fork)
    assert "--errors github" in steps_text(jobs["plan"]) and "--out out/plan.json" in steps_text(jobs["plan"])


def test_the_merge_applies_the_reviewed_plan_in_the_protected_environment() -> None:
    data = load("apply.yml")
    triggers = data.get("on") or data.get(True)  # a YAML 1.1 reader takes a bare `on` for true
    assert "schedule" not in triggers  # drift is its own workflow
    apply = data["jobs"]["apply"]
    assert apply["environment"] == "ispctl-production"
    run = steps_text(apply)
    assert "--reviewed reviewed/plan.json" in run and '--changed-since "$BEFORE"' in run
    assert "--force-reason" in run and "ispctl-audit-" in run
    drift = load("drift.yml")
    assert drift["concurrency"]["group"] != data["concurrency"]["group"]
    assert drift["jobs"]["repair"]["environment"] == "ispctl-production"
    assert "secrets.ISPCTL_PLAN_LDAP_PASSWORD" in str(drift["jobs"]["detect"]["env"])
