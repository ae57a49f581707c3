"""Error types shared by the engine, the providers and the CLI.

Every error an operator can cause carries enough context to be fixed without reading
Python: validation problems name file, line, column and field path; provider errors
name the resource address. The CLI maps these classes to exit codes in one place
(``ispctl.reconciler.cli.handler.run_command``), so no command prints a traceback for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    """Where a value came from in the desired state (1-based line and column)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True, order=True)
class Problem:
    """One validation error. Sorted by location so output is stable.

    ``code`` names the kind of problem for the few commands that can live with one (the
    DKIM commands exist because a key is missing); it takes no part in sorting or equality.
    """

    location: Location
    path: str
    message: str
    code: str = field(default="", compare=False)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location.file else ""
        field_part = f"{self.path}: " if self.path else ""
        return f"{where}{field_part}{self.message}"


class IspctlError(Exception):
    """Base class: an expected failure with a message meant for operators."""

    exit_code: int = 1


class ConfigError(IspctlError):
    """The environment or site settings do not allow ispctl to run."""


@dataclass
class ValidationFailed(IspctlError):
    """The desired state is invalid; carries every problem found in one run."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{len(self.problems)} validation error(s)")

    def __str__(self) -> str:
        lines = [str(p) for p in sorted(self.problems)]
        return "\n".join(lines)


class ProviderError(IspctlError):
    """A provider could not read or write live state."""


class ApprovalRequired(IspctlError):
    """Apply was asked to make changes without the approval they need."""
