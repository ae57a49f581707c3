"""What a document's faults against its model are, in the operator's words: pydantic's errors
located at file:line:col, worded for operators (a did-you-mean for an unknown field, the
common shape errors in plain terms) and never repeating a value that may be a secret."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.salvage import salvage
from ispctl.reconciler.estate.yamlload import Document


def _strip(annotation: Any) -> list[Any]:
    """The concrete alternatives of an annotation (Annotated and Optional removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_strip(arg))
        return found
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one location part further down, or None when unknown.

    A dict key or list index moves to the element type, a field name to the field's
    type; keeping the two apart matters when a mailbox or alias is itself called like a
    field ("status", "aliases"), so the did-you-mean hint still finds the right model.
    """
    for option in _strip(annotation):
        origin = typing.get_origin(option)
        if origin is dict:
            return typing.get_args(option)[1]
        if origin in (list, tuple):
            return typing.get_args(option)[0]
        if isinstance(option, type) and issubclass(option, BaseModel) and part in option.model_fields:
            return option.model_fields[part].annotation
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return None
    for option in _strip(current):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


# pydantic's wording for the common shape errors, in the operator's terms
_SHAPES = {
    "model_type": "expected a mapping of settings (key: value) here",
    "model_attributes_type": "expected a mapping of settings (key: value) here",
    "dict_type": "expected a mapping (key: value) here",
    "list_type": "expected a list here",
    "tuple_type": "expected a list here",
    "string_type": "expected text here",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
}


# Fields whose values may be secrets: a message about one never repeats what was written.
_SECRET_FIELD = re.compile(r"(?:^|_)(?:password|passwd|hash|secret|key)$", re.IGNORECASE)
_HIDDEN = "is not valid here (the value is not shown: it may be a secret)"


def _found(value: object) -> str:
    """What YAML made of an unquoted value where text was expected (never the value itself)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "nothing (null)" if value is None else ""


def _leaks(message: str, value: object) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    return value.strip() in message or any(part in message for part in value.split() if len(part) >= 4)


def _secret(loc: tuple[Any, ...]) -> bool:
    names = [p for p in loc if isinstance(p, str)]
    return bool(names) and _SECRET_FIELD.search(names[-1]) is not None


def _message(model: type[BaseModel], err: Any) -> str:
    text = _describe(model, err)
    if _secret(tuple(err["loc"])) and _leaks(text, err.get("input")):
        return _HIDDEN
    return text


def _describe(model: type[BaseModel], err: Any) -> str:
    kind, loc = err["type"], tuple(err["loc"])
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        text = f"unknown field {loc[-1]!r}"
        if hint:
            return f"{text}; did you mean {hint[0]!r}?"
        return f"{text}; allowed here: {', '.join(known)}" if known else text
    if kind == "missing":
        return "required field is missing"
    if kind == "string_type" and _found(err.get("input")):
        # YAML read an unquoted 007, 1e3, true or null as a number, boolean or null: the
        # text is refused rather than converted back (README "Validation").
        return (f"expected text here, found {_found(err.get('input'))}: YAML reads unquoted 007, 1e3, true or null "
                "that way; quote the value")
    if kind in _SHAPES:
        return _SHAPES[kind]
    if kind == "too_short":
        return "needs at least one entry" if err.get("ctx", {}).get("min_length") == 1 else "has too few entries"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg.replace("Input should be", "must be")


def check_model(doc: Document, model: type[BaseModel], partial: bool = False) -> tuple[Any, list[Problem]]:
    """Validate one document against its model; problems carry file:line:col. With ``partial``,
    a document with problems still gives what is left without its faulty fields (``salvage``),
    so that the rules across files also run on it in the same run."""
    if doc.data is None:
        return None, [doc.problem((), "the file is empty; expected a mapping of settings")]
    if not isinstance(doc.data, dict):
        found = "a list" if isinstance(doc.data, list) else "a single value"
        return None, [doc.problem((), f"expected a mapping of settings (key: value), found {found}")]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        problems = []
        # The input is only looked at (its type, and whether a message repeats a secret);
        # it is never part of a problem.
        for err in exc.errors(include_url=False):
            # Pydantic appends validator names to the location of wrapped types, and
            # "[key]" when a dict key (a local part) is at fault: the key's own path is meant.
            loc = tuple(
                p for p in err["loc"]
                if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]"))
            )
            problems.append(doc.problem(loc, _message(model, err), key=err["type"] == "extra_forbidden"))
        return (salvage(model, doc.data) if partial else None), problems
