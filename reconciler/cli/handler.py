"""The one error handler: expected errors become messages and exit codes, never tracebacks.

Exit codes: 0 success, 1 error, 2 "changes present" (``plan --detailed-exitcode``), 130
interrupted. A bug still ends with a clear message; ``ISPCTL_DEBUG=1`` shows its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import typer

from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import ApprovalRequired, IspctlError, ValidationFailed
from ispctl.reconciler.estate.flags import env_flag


def run_command(func: Callable[[], int]) -> None:
    """Run one command body and exit with its code."""
    debug = False
    try:
        debug = env_flag(os.environ, "ISPCTL_DEBUG")  # a typo in the switch is an error, not "off"
        code = func()
    except ValidationFailed as exc:
        for problem in sorted(exc.problems):
            output.err().print(str(problem), markup=False, style="red")
        output.err().print(f"{len(exc.problems)} error(s) in the desired state; nothing was changed.", style="bold red")
        code = 1
    except ApprovalRequired as exc:
        output.err().print(str(exc), markup=False, style="bold red")
        code = 1
    except IspctlError as exc:
        output.err().print(f"Error: {exc}", markup=False, style="bold red")
        code = exc.exit_code
    except KeyboardInterrupt:
        output.err().print("Interrupted.", style="bold red")
        code = 130
    except Exception as exc:
        if debug:
            raise
        output.err().print(
            f"Internal error ({type(exc).__name__}): {exc}\nRe-run with ISPCTL_DEBUG=1 for a traceback and report it.",
            markup=False, style="bold red",
        )
        code = 1
    raise typer.Exit(code)
