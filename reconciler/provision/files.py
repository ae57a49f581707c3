"""The estate's files as one in-memory edit: loaded round-trip on first use, written together.

``EditFiles`` keeps each touched file's original bytes and its edited document; ``changes``
says which files differ (a file edited back to what it was is no change), ``write`` puts
them on disk (each through a temporary file and a rename, folders made as needed) and
returns a ``Journal`` that puts every file back exactly as it was (bytes, and files or
folders that did not exist removed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.estate.jsonschema import schemas_folder, with_marker
from ispctl.reconciler.provision.yamlrt import dump_text, load_text, set_tail_comment, tail_comment


def to_yaml(value: Any) -> Any:
    """Plain data as the estate writes it: mappings in block style, lists of scalars in flow
    style (``[anna, karl]``), as the example files do."""
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        return CommentedMap((k, to_yaml(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not isinstance(value, CommentedSeq):
        seq = CommentedSeq(to_yaml(v) for v in value)
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


# The conventional order of each kind's keys (README "The desired state"): a new key goes
# before the first existing key that comes after it; a key not listed (a service's section)
# comes after every listed one.
ORDER = {
    "tenant": ("name", "contact", "status", "limits", "protect", "ignore_changes"),
    "domain": ("domain", "type", "alias_of", "primaries", "services", "status", "protect", "description",
               "ignore_changes", "mail", "mailboxes", "aliases"),
    "mailbox": ("name", "password", "credentials", "ignore_changes", "quota", "status", "services", "aliases",
                "forward", "previous"),
    "alias": ("to", "status", "description", "ignore_changes"),
}


def put_key(mapping: CommentedMap, key: str, value: Any, order: tuple[str, ...] = ()) -> None:
    """Set ``key``; a new key goes where ``order`` puts it, else last, and then the full-line
    comments that followed the former last entry (they introduce what comes after the
    mapping) move below the new one."""
    value = to_yaml(value)
    if key in mapping or not len(mapping):
        mapping[key] = value
        return
    if key in order:
        rank = order.index(key)
        later = [i for i, k in enumerate(mapping) if k not in order[: rank + 1]]
        if later:
            mapping.insert(later[0], key, value)
            return
    last = list(mapping)[-1]
    rest = tail_comment(mapping[last])
    mapping[key] = value
    if rest is not None and set_tail_comment(value if isinstance(value, (CommentedMap, CommentedSeq)) and len(value)
                                             else mapping, rest):
        _drop_tail(mapping[last])


def _drop_tail(node: Any) -> None:
    from ispctl.reconciler.provision.yamlrt import _last_leaf

    parent, key = _last_leaf(node)
    if parent is None:
        return
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.get(key)
    if entry and len(entry) > slot and entry[slot] is not None:
        eol = entry[slot].value.split("\n", 1)[0]
        if eol.strip():
            entry[slot].value = eol + "\n"
        else:
            entry[slot] = None


def drop_key(mapping: CommentedMap, key: str) -> None:
    """Remove ``key``; full-line comments after its value (about what follows) stay, on the
    entry before it."""
    rest = tail_comment(mapping[key])
    keys = list(mapping)
    index = keys.index(key)
    del mapping[key]
    if rest is not None and index > 0:
        set_tail_comment(mapping[keys[index - 1]] if isinstance(mapping[keys[index - 1]], (CommentedMap, CommentedSeq))
                         and len(mapping[keys[index - 1]]) else mapping, rest)


@dataclass
class Journal:
    """What ``EditFiles.write`` changed on disk, to undo it."""

    originals: dict[Path, bytes | None] = field(default_factory=dict)
    folders: list[Path] = field(default_factory=list)   # made by the edit
    removed: list[Path] = field(default_factory=list)   # emptied by it (a deleted tenant's)

    def restore(self) -> None:
        for folder in sorted(self.removed):
            folder.mkdir(parents=True, exist_ok=True)
        for path, data in self.originals.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                _atomic_write(path, data)
        for folder in reversed(self.folders):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


@dataclass
class EditFiles:
    """The files one edit touches. Paths are absolute inside ``root``."""

    root: Path
    _original: dict[Path, bytes | None] = field(default_factory=dict)
    _docs: dict[Path, Any] = field(default_factory=dict)  # None: the file is deleted
    # A file moved here untouched: its bytes, carried as they are (``move``) until an edit loads it.
    _moved: dict[Path, bytes] = field(default_factory=dict)

    def _within(self, path: Path) -> Path:
        path = path if path.is_absolute() else self.root / path
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise IspctlError(f"{path} is outside the desired-state folder {self.root}")
        return path

    def exists(self, path: Path) -> bool:
        path = self._within(path)
        if path in self._docs:
            return self._docs[path] is not None
        return path in self._moved or path.is_file()

    def doc(self, path: Path) -> CommentedMap:
        """The file's document, loaded round-trip the first time (and edited in place after)."""
        path = self._within(path)
        if path not in self._docs:
            if path in self._moved:
                data = self._moved.pop(path)  # its original (none) is the move's
            else:
                data = path.read_bytes()
                self._original[path] = data
            loaded = load_text(data.decode("utf-8"))
            if not isinstance(loaded, CommentedMap):
                raise IspctlError(f"{path}: not a mapping; fix the file by hand first")
            self._docs[path] = loaded
        doc = self._docs[path]
        if doc is None:
            raise IspctlError(f"{path} was deleted by an earlier operation of this edit")
        return doc  # type: ignore[no-any-return]

    def create(self, path: Path, data: CommentedMap) -> None:
        path = self._within(path)
        if self.exists(path):
            raise IspctlError(f"{path} already exists")
        if path not in self._original:
            self._original[path] = path.read_bytes() if path.is_file() else None
        self._docs[path] = data

    def move(self, old: Path, new: Path) -> None:
        """The file at a new path, none at the old one, as ``git mv`` would: byte for byte when
        this edit has not changed it (a file laid out by hand keeps its layout; a round trip would
        re-indent it), else its document as it is."""
        old, new = self._within(old), self._within(new)
        if old in self._docs or (old not in self._moved and not old.is_file()):
            self.create(new, self.doc(old))
            self.delete(old)
            return
        if self.exists(new):
            raise IspctlError(f"{new} already exists")
        data = self._moved.pop(old) if old in self._moved else old.read_bytes()
        if new not in self._original:
            self._original[new] = new.read_bytes() if new.is_file() else None
        self._moved[new] = data
        self.delete(old)

    def delete(self, path: Path) -> None:
        path = self._within(path)
        if path not in self._original:
            self._original[path] = path.read_bytes() if path.is_file() else None
        self._docs[path] = None

    def changes(self) -> dict[Path, tuple[bytes | None, bytes | None]]:
        """Every file whose bytes the edit changes: path -> (before, after); None = absent."""
        found: dict[Path, tuple[bytes | None, bytes | None]] = {}
        schemas = schemas_folder(self.root)
        for path, doc in self._docs.items():
            before = self._original.get(path)
            text = None if doc is None else dump_text(doc)
            if text is not None and before is None and schemas is not None:
                # A new file names its schema as the estate's files do, so an editor checks it too.
                text = with_marker(path, text, schemas)
            after = None if text is None else text.encode("utf-8")
            if before != after:
                found[path] = (before, after)
        for path, data in self._moved.items():
            if path not in self._docs and self._original.get(path) != data:
                found[path] = (self._original.get(path), data)
        return dict(sorted(found.items()))

    def write(self, changes: dict[Path, tuple[bytes | None, bytes | None]]) -> Journal:
        """Write ``changes``; the journal undoes them. A failure half-way undoes what was written."""
        journal = Journal()
        try:
            for path, (before, after) in changes.items():
                if after is None:
                    journal.originals[path] = before
                    path.unlink(missing_ok=True)
                    self._drop_empty(path.parent, journal)
                    continue
                missing = [p for p in reversed(path.parents) if not p.exists()]
                for folder in missing:
                    folder.mkdir()
                    journal.folders.append(folder)
                journal.originals[path] = before
                _atomic_write(path, after)
        except BaseException:
            journal.restore()
            raise
        return journal

    def _drop_empty(self, folder: Path, journal: Journal) -> None:
        """A tenant folder left without files (its tenant deleted) goes too: the loader would
        take an empty folder for a tenant without its tenant.yaml."""
        if folder != self.root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            journal.removed.append(folder)
