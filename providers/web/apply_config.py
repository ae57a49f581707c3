"""Testing a candidate set of site files before it goes live, and the daemons' commands.

The operator's (or the sandbox's) main configuration includes ``<sites_dir>/*.conf`` (Apache)
and ``<pools_dir>/*.conf`` (php-fpm). A test copies that main file beside it with the include
line replaced by one include per candidate file (the live files, some of them replaced by their
staged new versions), and runs the configured test command with ``-f`` (Apache)
or ``-y`` (php-fpm) naming the copy: the WHOLE configuration is tested, the operator's own files
included, with the candidate files in place of the live ones, and nothing live changes.

The main file is the one the test command names (``-f``/``-y``), else the daemon's compiled-in
default (``apache2 -V``; php-fpm names it when it tests).

``failing`` finds which changed sites break a test: a file named in the error output fails at
once; otherwise the changes are bisected. Apache reports only its first error, so the search
repeats until the test passes.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ispctl.providers.web.render import host_of
from ispctl.reconciler.contract import ProviderError


@dataclass(frozen=True)
class Control:
    """The daemons' commands (argument lists, never a shell) and the probe's settings."""

    apache_test: tuple[str, ...] = ("apache2ctl", "-t")
    apache_reload: tuple[str, ...] = ("apache2ctl", "graceful")
    php_test: tuple[str, ...] = ("php-fpm8.2", "-t")
    php_reload: tuple[str, ...] = ("systemctl", "reload", "php8.2-fpm")
    probe: bool = True
    probe_address: str = "127.0.0.1"
    probe_timeout: float = 10.0
    command_timeout: float = 120.0


def run(argv: Sequence[str], timeout: float) -> tuple[int, str]:
    """Exit status and output (stdout and stderr together) of a command."""
    try:
        done = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(argv)}: no answer within {timeout:.0f} s"
    return done.returncode, done.stdout.decode("utf-8", "replace").strip()


def _option(argv: Sequence[str], names: tuple[str, ...]) -> tuple[int, str] | None:
    """(index, value) of an option given as ``-f X``, ``--opt X`` or ``--opt=X``."""
    for index, word in enumerate(argv):
        if word in names and index + 1 < len(argv):
            return index, argv[index + 1]
        for name in names:
            if name.startswith("--") and word.startswith(name + "="):
                return index, word.split("=", 1)[1]
    return None


class ConfigTest:
    """One daemon's configuration test against candidate include directories."""

    def __init__(self, daemon: str, argv: Sequence[str], live_dir: str, timeout: float) -> None:
        self.daemon = daemon  # "apache" or "php-fpm"
        self.argv = tuple(argv)
        self.live_dir = live_dir.rstrip("/")
        self.timeout = timeout
        self._main: str | None = None
        self.runs = 0  # tests run (the benchmark and the tests count them)

    @property
    def _names(self) -> tuple[str, ...]:
        return ("-f",) if self.daemon == "apache" else ("-y", "--fpm-config")

    def main_config(self) -> str:
        if self._main is None:
            given = _option(self.argv, self._names)
            self._main = given[1] if given is not None else self._default()
        return self._main

    def _default(self) -> str:
        if self.daemon == "apache":
            _, out = run([*self.argv, "-V"], self.timeout)
            root = re.search(r'HTTPD_ROOT="([^"]+)"', out)
            name = re.search(r'SERVER_CONFIG_FILE="([^"]+)"', out)
            if root and name:
                return name.group(1) if name.group(1).startswith("/") else f"{root.group(1)}/{name.group(1)}"
        else:
            _, out = run(self.argv, self.timeout)
            found = re.search(r"configuration file '?(/[^' ]+)", out)
            if found:
                return found.group(1)
        raise ProviderError(f"web: cannot tell which {self.daemon} configuration file '{' '.join(self.argv)}' tests; "
                            "name it in the test command (-f for Apache, -y for php-fpm)")

    def _candidate_config(self, paths: Sequence[str]) -> str:
        main = self.main_config()
        try:
            with open(main, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ProviderError(f"web: cannot read the {self.daemon} configuration {main}: {exc.strerror}") from None
        live = re.escape(self.live_dir)
        if self.daemon == "apache":
            pattern = rf'(?im)^\s*Include(?:Optional)?\s+"?{live}/\*\.conf"?\s*$'
            wanted = f"IncludeOptional {self.live_dir}/*.conf"
            lines = "".join(f'Include "{path}"\n' for path in paths)
        else:
            pattern = rf"(?m)^\s*include\s*=\s*{live}/\*\.conf\s*$"
            wanted = f"include={self.live_dir}/*.conf"
            lines = "".join(f"include={path}\n" for path in paths)
        # One include line per candidate file, in the order the glob would have read them: no
        # directory of links to build (a thousand of them cost more than the test itself).
        changed, count = re.subn(pattern, lambda m: lines.rstrip("\n"), text, count=1)
        if not count:
            raise ProviderError(f"web: the {self.daemon} configuration {main} has no '{wanted}' line, so ispctl "
                                "cannot test its files before they go live; add that line")
        path = f"{os.path.dirname(main)}/.ispctl-test-{os.getpid()}-{os.path.basename(main)}"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(changed)
        return path

    def check(self, paths: Sequence[str]) -> str | None:
        """None when the configuration with ``paths`` in place of the live directory's files passes,
        else the test's output."""
        config = self._candidate_config(paths)
        self.runs += 1
        try:
            given = _option(self.argv, self._names)
            if given is None:
                argv = [*self.argv, self._names[0], config]
            else:
                index = given[0]
                words = list(self.argv)
                if words[index].startswith("--") and "=" in words[index]:
                    words[index] = f"{words[index].split('=', 1)[0]}={config}"
                else:
                    words[index + 1] = config
                argv = words
            status, out = run(argv, self.timeout)
        finally:
            os.unlink(config)
        return None if status == 0 else (out or f"{self.daemon} test failed with status {status}")


def named_in(output: str, directory: str, hosts: set[str]) -> set[str]:
    """The changed sites whose candidate file the error output names."""
    found = re.findall(re.escape(directory.rstrip("/")) + r"/([^/\s:'\"\]]+\.conf)", output)
    return {host_of(name) for name in found} & hosts


def failing(check: Callable[[frozenset[str]], tuple[str | None, str]], changed: set[str]) -> dict[str, str]:
    """Which of the ``changed`` sites break the test, each with the output that blamed it.

    ``check(included)`` tests the configuration with the changes of ``included`` only (the
    others as they are live) and returns (output or None, the directory holding the new files).
    """
    bad: dict[str, str] = {}
    remaining = set(changed)
    while True:
        error, directory = check(frozenset(remaining))
        if error is None:
            return bad
        blamed = named_in(error, directory, remaining)
        if not blamed:
            alone, _ = check(frozenset())
            if alone is not None:
                # The live configuration itself fails (a file ispctl does not own, say): no change
                # can be shown to be good, so none goes live, and the message says why.
                for host in remaining:
                    bad[host] = (f"the configuration fails its test without any of this run's changes (fix "
                                 f"what the output names first):\n{alone}")
                return bad
            culprit = _bisect(check, sorted(remaining))
            if culprit is None:
                # No single change fails alone, only some of them together: none can go live.
                for host in remaining:
                    bad[host] = error
                return bad
            blamed = {culprit[0]}
            error = culprit[1]
        for host in blamed:
            bad[host] = error
        remaining -= blamed
        if not remaining:
            return bad


def _bisect(check: Callable[[frozenset[str]], tuple[str | None, str]],
            hosts: list[str]) -> tuple[str, str] | None:
    """One change that fails the test together with the live configuration, or None."""
    error: str | None = None
    while len(hosts) > 1:
        half = hosts[: len(hosts) // 2]
        error, _ = check(frozenset(half))
        if error is not None:
            hosts = half
            continue
        rest = hosts[len(hosts) // 2:]
        error, _ = check(frozenset(rest))
        if error is None:
            return None  # only the two halves together fail
        hosts = rest
    if error is None:
        error, _ = check(frozenset(hosts))
    return (hosts[0], error) if error is not None else None
