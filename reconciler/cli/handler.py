"""The one error handler: expected errors become messages and exit codes, never tracebacks.

Exit codes: 0 success, 1 error, 2 "changes present" (``plan --detailed-exitcode``), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM); a usage error is 1 too (``group.TopGroup``). With
``--errors github`` every error is also a GitHub annotation. A bug still ends with a clear message;
``ISPCTL_DEBUG=1`` shows its traceback.

SIGTERM (what CI runners and systemd send) is handled like Ctrl-C: the command unwinds, so
a lock it holds is released, and says so. While apply writes, it stops at the next change
boundary instead (``runs.stop_on_signals``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

import typer

from ispctl.reconciler.engine import output
from ispctl.reconciler.engine.errors import ApprovalRequired, IspctlError, ValidationFailed


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived outside apply's writes: unwind like Ctrl-C."""


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated()


def run_command(func: Callable[[], int]) -> None:
    """Run one command body and exit with its code."""
    debug = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        from ispctl.reconciler.estate.flags import env_flag  # pydantic: only once a command runs

        debug = env_flag(os.environ, "ISPCTL_DEBUG")  # a typo in the switch is an error, not "off"
        code = func()
    except ValidationFailed as exc:
        for problem in sorted(exc.problems):
            output.err().print(str(problem), markup=False, style="red")
            where = problem.location
            output.annotate("error", f"{problem.path}: {problem.message}" if problem.path else problem.message,
                            where.file, where.line, where.column)
        output.err().print(f"{len(exc.problems)} error(s) in the desired state; nothing was changed.", style="bold red")
        code = 1
    except ApprovalRequired as exc:
        output.err().print(str(exc), markup=False, style="bold red")
        code = 1
    except IspctlError as exc:
        output.err().print(f"Error: {exc}", markup=False, style="bold red")
        output.annotate("error", str(exc))
        code = exc.exit_code
    except Terminated:
        output.err().print("Terminated (SIGTERM).", style="bold red")
        code = 143
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
        output.annotate("error", f"ispctl internal error ({type(exc).__name__}); see the job log")
        code = 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(code)
