"""Operations as data: a batch line is parsed into one typed ``Operation`` or reported with its number."""

from __future__ import annotations

import pytest

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.provision.operations import BatchError, Operation, parse_lines


def test_lines_become_operations_with_their_numbers() -> None:
    found = parse_lines('# billing export\n\n{"op": "mailbox.add", "address": "a@x.example", "quota": "2GiB"}\n'
                        '{"op": "tenant.suspend", "tenant": "acme"}\n', "orders.jsonl")
    assert [(n, op.op, op.target) for n, op in found] == [(3, "mailbox.add", "a@x.example"),
                                                          (4, "tenant.suspend", "acme")]
    assert found[0][1].describe() == "mailbox.add a@x.example"


def test_every_bad_line_is_reported_and_a_password_is_never_repeated() -> None:
    with pytest.raises(BatchError) as caught:
        parse_lines('{"op": "mailbox.add"\n{"op": "mailbox.fly", "address": "a@x.example"}\n'
                    '{"op": "mailbox.add", "address": "a@x.example", "password": ["S3cret!"]}\n', "b.jsonl")
    messages = caught.value.messages
    assert messages[0].startswith("b.jsonl:1: not JSON")
    assert messages[1].startswith("b.jsonl:2: op:")
    assert messages[2].startswith("b.jsonl:3: password:")
    assert "S3cret" not in str(caught.value)


def test_the_object_is_named_by_its_nouns_field() -> None:
    assert Operation(op="record.add", object="www.x.example").target == "www.x.example"
    with pytest.raises(IspctlError, match="needs 'address'"):
        _ = Operation(op="alias.delete", tenant="acme").target


def test_an_add_or_set_writes_the_fields_given_then_set() -> None:
    op = Operation(op="mailbox.set", address="anna@example.net", name="Anna", quota=None,
                   set={"quota": "2G", "imap": False})
    assert op.fields("name", "quota") == {"name": "Anna", "quota": "2G", "imap": False}
    assert Operation(op="tenant.add", tenant="acme").fields("name", "contact") == {}
