"""The staged new configuration files of one live directory, for one apply (``apply.Run``).

New vhost or pool files are written into ``.ispctl-staging/new`` inside the live directory (the
same filesystem, so going live is one rename each); a config test reads the candidate list: the
live files with some replaced by their staged versions, or left out (a removal).
"""

from __future__ import annotations

import os
import shutil

from ispctl.providers.web.render import host_of

STAGING = ".ispctl-staging"


def _conf_names(directory: str) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(directory) if e.name.endswith(".conf") and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def _fresh(path: str) -> str:
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.makedirs(path, 0o755)
    return path


class Candidates:
    """The staged new files of one live directory (``.ispctl-staging/new``), and the candidate
    file lists a config test reads: the live files, some replaced by their new versions. Neither
    Apache's nor php-fpm's ``*.conf`` matches a name with a leading dot, and nor does this."""

    def __init__(self, live_dir: str, new: dict[str, str | None], names: dict[str, str],
                 live_names: dict[str, str]) -> None:
        self.live_dir = live_dir
        self.new = new  # host -> new text, None to remove
        self.names = {h: names.get(h, f"{h}.conf") for h in new}  # host -> its new file's name
        self.live_names = live_names  # host -> the name of its live file (a wildcard site's differs)
        self.root = _fresh(f"{live_dir}/{STAGING}")
        self.new_dir = _fresh(f"{self.root}/new")
        for host, text in new.items():
            if text is not None:
                # No fsync per file: one sync before the swap covers them all (``Run._go_live``).
                with open(f"{self.new_dir}/{self.names[host]}", "x", encoding="utf-8") as handle:
                    handle.write(text)

    def take(self, host: str) -> str:
        """Put the staged new file of ``host`` live: one rename (the same filesystem); returns where."""
        path = f"{self.live_dir}/{self.names[host]}"
        os.chmod(f"{self.new_dir}/{self.names[host]}", 0o644)
        os.replace(f"{self.new_dir}/{self.names[host]}", path)
        return path

    def build(self, included: frozenset[str]) -> list[str]:
        """The candidate files: the live ones, with the new versions of ``included`` (in glob order)."""
        names = set(_conf_names(self.live_dir)) | {self.names[h] for h in included if self.new[h] is not None}
        paths = []
        for name in sorted(names):
            host = host_of(name)
            if host not in included:
                paths.append(f"{self.live_dir}/{name}")
            elif self.new[host] is not None and name == self.names[host]:
                paths.append(f"{self.new_dir}/{name}")
        return paths

    def shown(self, output: str) -> str:
        """Test output naming the files where they go live, not where they were tested."""
        return output.replace(self.new_dir + "/", self.live_dir + "/")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
