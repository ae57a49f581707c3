"""A mailbox's ``vacation:`` and ``filters:`` sections, as pydantic models.

* ``Vacation`` -- an auto-reply: ``subject``, ``text``, ``start`` and ``end`` dates (both
  inclusive, both optional: no start is "from now on", no end is "until removed"), ``days``
  (one reply per sender per that many days; Pigeonhole allows 1 to 60 by default) and
  ``addresses`` (more of the mailbox's own addresses, e.g. aliases, that count as "to me").
* ``Filter`` -- one rule: an optional header match (``header`` + ``contains``; none matches
  all mail) and exactly one action: ``fileinto`` a folder (made if missing), ``forward`` to
  an address (``keep_copy``, default true, is Sieve's ``redirect :copy``) or ``discard``.

Everything is checked here, so a problem is reported with the file and line that wrote it.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import datetime as dt
import re
from typing import Annotated, Self

from pydantic import AfterValidator, Field, RootModel, model_validator

from ispctl.reconciler.contract import InvalidName, Section, Strict, normalise_address

# RFC 5322 field names: printable ASCII but the colon.
_HEADER = re.compile(r"[!-9;-~]{1,76}")
# Folder characters ispctl writes into a Sieve fileinto: no IMAP wildcards, no path
# separators of the maildir layout's file system, no quotes or backslashes.
_FOLDER_BAD = set('*%"\\/~')


def _address(value: str) -> str:
    try:
        return normalise_address(value)
    except InvalidName as exc:
        raise ValueError(str(exc)) from None


def _header(value: str) -> str:
    if not _HEADER.fullmatch(value):
        raise ValueError(f"{value!r} is not a header name (printable ASCII without ':' or spaces, e.g. Subject)")
    return value


def _one_line(value: str) -> str:
    if any(not c.isprintable() for c in value):
        raise ValueError("must be one line without control characters")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _text(value: str) -> str:
    if any(not c.isprintable() and c not in "\n\t" for c in value) or not value.strip():
        raise ValueError("must be non-empty text (line breaks are fine, other control characters are not)")
    return value


def _folder(value: str) -> str:
    """A folder name Dovecot's maildir accepts ("." separates levels: Archive.2026)."""
    if not value or len(value) > 200 or any(not c.isprintable() for c in value):
        raise ValueError("a folder name is 1 to 200 printable characters")
    bad = sorted(_FOLDER_BAD.intersection(value))
    if bad:
        raise ValueError(f"a folder name cannot contain {''.join(bad)!r}")
    if value.startswith(".") or value.endswith(".") or ".." in value or value.strip() != value:
        raise ValueError("a folder name cannot start or end with '.' or a space, or hold '..' ('.' separates "
                         "levels: Archive.2026)")
    return value


Address = Annotated[str, AfterValidator(_address)]
OneLine = Annotated[str, Field(max_length=200), AfterValidator(_one_line)]
Text = Annotated[str, Field(max_length=10000), AfterValidator(_text)]
Folder = Annotated[str, AfterValidator(_folder)]


class Vacation(Strict):
    subject: OneLine = Field(description="subject of the auto-reply")
    text: Text = Field(description="body of the auto-reply")
    start: dt.date | None = Field(None, description="first day replies are sent (inclusive) [default: at once]")
    end: dt.date | None = Field(None, description="last day replies are sent (inclusive) [default: no end]")
    days: Annotated[int, Field(ge=1, le=60)] = Field(
        7, description="one reply per sender per this many days (Pigeonhole's limits: 1 to 60)")
    addresses: tuple[Address, ...] = Field(
        (), description="more addresses of this mailbox (aliases) that count as written to it")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class Filter(Strict):
    header: Annotated[str, AfterValidator(_header)] | None = Field(
        None, description="header to match (Subject, From, List-Id...); without it the rule takes all mail")
    contains: OneLine | None = Field(None, description="text the header must contain (case-insensitive)")
    fileinto: Folder | None = Field(None, description="file into this folder (made if missing)")
    forward: Address | None = Field(None, description="forward to this address")
    keep_copy: bool = Field(True, description="with forward: keep a copy here too (redirect :copy)")
    discard: bool = Field(False, description="drop the message silently")

    @model_validator(mode="after")
    def _one_action(self) -> Self:
        if (self.header is None) != (self.contains is None):
            raise ValueError("header and contains go together (or leave both out to take all mail)")
        actions = [name for name, on in (("fileinto", self.fileinto is not None), ("forward", self.forward is not None),
                                         ("discard", self.discard)) if on]
        if len(actions) != 1:
            raise ValueError("a filter needs exactly one of fileinto, forward, discard: true "
                             f"(it has {', '.join(actions) or 'none'})")
        if "keep_copy" in self.model_fields_set and self.forward is None:
            raise ValueError("keep_copy only goes with forward")
        return self


class Filters(RootModel[tuple[Filter, ...]]):
    """A mailbox's rules, applied in order; the first that files, discards or forwards
    without a copy ends the processing."""

    model_config = {"frozen": True}


VACATION = Section("mailbox", "vacation", Vacation, description="an auto-reply with dates (Dovecot Sieve)")
FILTERS = Section("mailbox", "filters", Filters,
                  description="rules in order: file into a folder, forward (with a kept copy) or discard")
