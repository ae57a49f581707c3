"""Shell completion of the installed ``ispctl``, in the real shells (bash, zsh, fish).

``--show-completion`` and ``--install-completion`` find the shell they run in (the parent
process), so each is run from that shell; the script it prints is then loaded in the same
shell and asked to complete, the way a user's Tab does: commands, the services' commands
(loaded lazily), options, and options after a global option written after the command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ldap_helpers import ispctl_binary

BIN = Path(ispctl_binary()).parent


def _shell(shell: str, script: str, home: Path | None = None) -> str:
    found = shutil.which(shell)
    assert found, f"{shell} is not installed (.ci/setup installs bash, zsh and fish)"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    if home is not None:
        env["HOME"] = str(home)
        env.pop("XDG_CONFIG_HOME", None)
    done = subprocess.run([found, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


BASH_COMPLETE = """
source <(ispctl --show-completion)
complete_words() {{ COMP_WORDS=($1); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _ispctl_completion ispctl;
                   printf '%s\\n' "${{COMPREPLY[@]}}"; echo ---; }}
{calls}
"""


def test_bash_completes_commands_services_commands_and_options() -> None:
    calls = ["ispctl pl", "ispctl render do", "ispctl plan --chan", "ispctl plan --no-color --ta", "ispctl ''"]
    out = _shell("bash", BASH_COMPLETE.format(calls="\n".join(f'complete_words "{c}"' for c in calls)))
    plan, render, option, after_global, everything, _ = out.split("---\n")
    assert plan.split() == ["plan"]
    assert render.split() == ["dovecot"]
    assert option.split() == ["--changed-since"]
    assert after_global.split() == ["--target"]
    assert {"validate", "plan", "apply", "render", "dkim", "man", "schema"} <= set(everything.split())


def test_fish_completes_with_descriptions() -> None:
    out = _shell("fish", 'ispctl --show-completion | source; complete -C "ispctl pl"; echo ---; '
                         'complete -C "ispctl render do"; echo ---; complete -C "ispctl validate --j"')
    plan, render, option = out.split("---\n")
    assert plan.startswith("plan\tShow what apply would change.")
    assert render.startswith("dovecot\t")
    assert option.startswith("--json\t")


def test_zsh_gets_its_own_script_and_answers() -> None:
    # "; true": zsh would otherwise exec ispctl in its own place, and ispctl would see zsh's parent.
    script = _shell("zsh", "ispctl --show-completion; true")
    assert script.startswith("#compdef ispctl")
    answer = _shell("zsh", 'env _ISPCTL_COMPLETE=complete_zsh _TYPER_COMPLETE_ARGS="ispctl pl" ispctl; true')
    assert '"plan":"Show what apply would change."' in answer


@pytest.mark.parametrize(("shell", "installed"), [
    ("bash", ".bash_completions/ispctl.sh"),
    ("zsh", ".zfunc/_ispctl"),
    ("fish", ".config/fish/completions/ispctl.fish"),
])
def test_install_completion_writes_the_script_where_the_shell_loads_it(shell: str, installed: str,
                                                                       tmp_path: Path) -> None:
    out = _shell(shell, "ispctl --install-completion; true", home=tmp_path)
    assert f"{shell} completion installed in" in out
    written = (tmp_path / installed).read_text(encoding="utf-8")
    assert "_ISPCTL_COMPLETE" in written
    if shell == "bash":
        assert f"source '{tmp_path / installed}'" in (tmp_path / ".bashrc").read_text(encoding="utf-8")
        # A new interactive-like shell that reads .bashrc completes ispctl.
        done = _shell("bash", f"source {tmp_path}/.bashrc; COMP_WORDS=(ispctl sch); COMP_CWORD=1; "
                              "_ispctl_completion ispctl; echo ${COMPREPLY[@]}", home=tmp_path)
        assert done.split() == ["schema"]


def test_a_shell_named_on_the_command_line_wins_over_the_one_it_runs_in(tmp_path: Path) -> None:
    script = tmp_path / "ispctl.fish"
    _shell("bash", f"ispctl --show-completion fish > {script}")  # from bash, for fish
    assert _shell("fish", f'source {script}; complete -C "ispctl sch"').startswith("schema\t")
    assert _shell("bash", "ispctl plan --show-completion=zsh").startswith("#compdef ispctl")  # after a command too
    out = _shell("bash", "ispctl --install-completion zsh", home=tmp_path)
    assert "zsh completion installed in" in out and (tmp_path / ".zfunc/_ispctl").exists()
    refused = subprocess.run([ispctl_binary(), "--show-completion", "tcsh"], capture_output=True, text=True,
                             env={**os.environ, "NO_COLOR": "1"}, timeout=60, check=False)
    assert refused.returncode == 1 and "completes bash, zsh, fish" in refused.stderr
