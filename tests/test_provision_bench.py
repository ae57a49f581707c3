"""The provisioning benchmark runs end to end at a tiny size (figures: tests/bench/README.md)."""

from __future__ import annotations

import pytest

from tests.bench import provision


def test_the_bench_onboards_customers_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    assert provision.main(["--customers", "2", "--repeat", "1", "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 customers (6 operations); batch: median of 1; one command at a time: median of 1 "
                          "customers at 1 present, x2\n")
    rows = [line for line in out.splitlines() if line.startswith(("| wall", "| CPU"))]
    assert len(rows) == 2


def test_a_customer_is_a_client_its_domain_and_its_mailbox_the_same_as_commands() -> None:
    ops = provision.customer_ops(7)
    assert [op["op"] for op in ops] == ["tenant.add", "domain.add", "mailbox.add"]
    argv = [provision.as_argv(op, provision.REPO / "x")[1:-2] for op in ops]
    assert argv == [["tenant", "add", "c00007", "--parent", "bulk", "--name", "Customer 7"],
                    ["domain", "add", "c00007.example", "--tenant", "c00007"],
                    ["mailbox", "add", "owner@c00007.example", "--name", "Owner 7", "--quota", "1 GiB"]]
