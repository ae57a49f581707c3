"""A mailbox's vacation: and filters: as written in the YAML: every mistake reported at once,
each with its file, line and field; a valid one compiles to one sieve.<address> per mailbox."""

from __future__ import annotations

from pathlib import Path

from estate_builder import SITE, EstateBuilder

from tests.wiring import load_desired, problems_of

REL = "tenants/acme/acme.example.yaml"


def estate(tmp_path: Path, mailboxes: str) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site=SITE)
    builder.write("tenants/acme/tenant.yaml", "name: Acme\n")
    builder.write(REL, f"domain: acme.example\nmailboxes:\n{mailboxes}")
    return builder


def test_every_mistake_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    builder = estate(tmp_path, (
        "  ann:\n"
        "    vacation: {subject: Away, text: Back soon, start: 2026-08-10, end: 2026-08-01}\n"
        "  bob:\n"
        "    vacation: {subject: Away, text: Back soon, start: 2026-02-30, days: 90, addresses: [not-an-address]}\n"
        "  cat:\n"
        "    filters:\n"
        "      - {header: Subject, contains: x, fileinto: ../etc}\n"
        "      - {header: 'Bad:Name', contains: x, discard: true}\n"
        "      - {forward: joe@elsewhere.example, discard: true}\n"
        "      - {header: Subject, fileinto: Later}\n"
        "      - {fileinto: Archive, keep_copy: false}\n"
    ))
    shown = [str(p) for p in problems_of(builder.root)]
    file = builder.display(REL)
    line = {name: builder.line_of(REL, f"  {name}:") for name in ("ann", "bob", "cat")}
    assert len(shown) == 9, shown
    expected = [
        (line["ann"] + 1, "mailboxes.ann.vacation", "end (2026-08-01) is before start (2026-08-10)"),
        (line["bob"] + 1, "mailboxes.bob.vacation.start", "date"),
        (line["bob"] + 1, "mailboxes.bob.vacation.days", "60"),
        (line["bob"] + 1, "mailboxes.bob.vacation.addresses[0]", "'not-an-address' is not an e-mail address"),
        (line["cat"] + 2, "mailboxes.cat.filters[0].fileinto", "a folder name cannot contain '/'"),
        (line["cat"] + 3, "mailboxes.cat.filters[1].header", "'Bad:Name' is not a header name"),
        (line["cat"] + 4, "mailboxes.cat.filters[2]", "exactly one of fileinto, forward, discard: true (it has "
                                                      "forward, discard)"),
        (line["cat"] + 5, "mailboxes.cat.filters[3]", "header and contains go together"),
        (line["cat"] + 6, "mailboxes.cat.filters[4]", "keep_copy only goes with forward"),
    ]
    for at, field, words in expected:
        assert any(s.startswith(f"{file}:{at}:") and f" {field}: " in s and words in s for s in shown), (field, shown)


def test_a_mailbox_with_rules_gets_one_script_and_others_none(tmp_path: Path) -> None:
    builder = estate(tmp_path, (
        "  ann:\n"
        "    vacation:\n"
        "      subject: Away \"till\" May\n"
        "      text: |\n        Back in May.\n        Urgent: call the desk.\n"
        "      start: 2026-05-01\n"
        "      days: 3\n"
        "      addresses: [Info@Acme.example]\n"
        "    filters:\n"
        "      - {header: List-Id, contains: news, fileinto: Lists.News}\n"
        "      - {forward: ann@home.example, keep_copy: false}\n"
        "  bob: {}\n"
    ))
    _catalog, resources = load_desired(builder.root)
    scripts = {key: r for (kind, key), r in resources.items() if kind == "sieve"}
    assert list(scripts) == ["ann@acme.example"]
    ann = scripts["ann@acme.example"]
    assert ann.attrs["path"] == "/var/vmail/acme.example/ann/ispctl.sieve"
    assert ann.depends_on == ("maildir.ann@acme.example",)
    assert ann.attrs["script"] == (
        "# ispctl: Sieve rules of ann@acme.example (from its vacation: and filters:; rewritten by ispctl apply, "
        "do not edit)\n"
        'require ["vacation", "date", "relational", "fileinto", "mailbox"];\n'
        'if allof(currentdate :value "ge" "date" "2026-05-01") {\n'
        '  vacation :days 3 :subject "Away \\"till\\" May" :addresses ["ann@acme.example", "info@acme.example"]\n'
        '  "Back in May.\nUrgent: call the desk.\n";\n'
        "}\n"
        'if header :contains "List-Id" "news" {\n'
        '  fileinto :create "Lists.News"; stop;\n'
        "}\n"
        'redirect "ann@home.example"; stop;\n'
    )
