"""The Sieve script ispctl writes for one mailbox, from its ``vacation:`` and ``filters:``.

Dovecot runs it as the mailbox's ``sieve_before`` script (``~/ispctl.sieve``), before the
user's own active script (``~/.dovecot.sieve``, managed over ManageSieve), which ispctl never
writes. The first line is ispctl's ownership marker: the provider reads and replaces only
files that start with it.

Order matters: the vacation comes first, so a message a filter files away is still answered;
then the filters in the order written. A rule that files, discards or forwards without a kept
copy ends with ``stop`` (its message is dealt with); one that forwards with a copy lets the
next rules, and the user's own script, see the message too.
"""

from __future__ import annotations

from ispctl.providers.sieve.settings import Filter, Filters, Vacation

FILE_NAME = "ispctl.sieve"
BINARY_NAME = "ispctl.svbin"
MARKER = "# ispctl: Sieve rules of "


def marker_line(address: str) -> str:
    return f"{MARKER}{address} (from its vacation: and filters:; rewritten by ispctl apply, do not edit)"


def owner_of(text: str) -> str | None:
    """The mailbox a script's marker names, or None when ispctl did not write it."""
    first = text.split("\n", 1)[0]
    if not first.startswith(MARKER):
        return None
    address = first[len(MARKER):].split(" ", 1)[0]
    return address or None


def quoted(value: str) -> str:
    """A Sieve quoted string (RFC 5228 2.4.2): only backslash and double quote are escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _vacation(vacation: Vacation, address: str) -> list[str]:
    tests = []
    # ISO dates compare as text; currentdate reads the server's local date.
    if vacation.start is not None:
        tests.append(f'currentdate :value "ge" "date" {quoted(vacation.start.isoformat())}')
    if vacation.end is not None:
        tests.append(f'currentdate :value "le" "date" {quoted(vacation.end.isoformat())}')
    addresses = ", ".join(quoted(a) for a in (address, *vacation.addresses))
    action = (f"vacation :days {vacation.days} :subject {quoted(vacation.subject)} :addresses [{addresses}]\n"
              f"  {quoted(vacation.text)};")
    if not tests:
        return [action.replace("\n  ", "\n")]
    return [f"if allof({', '.join(tests)}) {{", f"  {action}", "}"]


def _filter(rule: Filter) -> list[str]:
    if rule.fileinto is not None:
        action = f"fileinto :create {quoted(rule.fileinto)}; stop;"
    elif rule.forward is not None:
        target = quoted(rule.forward)
        action = f"redirect :copy {target};" if rule.keep_copy else f"redirect {target}; stop;"
    else:
        action = "discard; stop;"
    if rule.header is None or rule.contains is None:
        return [action]
    return [f"if header :contains {quoted(rule.header)} {quoted(rule.contains)} {{", f"  {action}", "}"]


def render(address: str, vacation: Vacation | None, filters: Filters | None) -> str:
    """The script's text for ``address`` (``None`` sections contribute nothing)."""
    rules = filters.root if filters is not None else ()
    needs = []
    if vacation is not None:
        needs += ["vacation"] + (["date", "relational"] if vacation.start or vacation.end else [])
    if any(r.fileinto for r in rules):
        needs += ["fileinto", "mailbox"]
    if any(r.forward and r.keep_copy for r in rules):
        needs.append("copy")
    lines = [marker_line(address)]
    if needs:
        lines.append(f"require [{', '.join(quoted(n) for n in needs)}];")
    if vacation is not None:
        lines += _vacation(vacation, address)
    for rule in rules:
        lines += _filter(rule)
    return "\n".join(lines) + "\n"
