"""The one mechanism that turns a script's UPPERCASE constants into command-line flags."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = '''
"""A demo script.

More text."""
from typing import Literal
from workshop import cli
from workshop.errors import UserError

TRAIN_SIZE = 200000  # training images
LEARNING_RATE = 0.5  # step size
DEVICE: Literal["auto", "cpu", "gpu"] = "auto"  # where to run
FORCE = False  # rebuild

# --- System settings ---
FONTS: str | None = None  # extra fonts
TIME_FORMAT = "%d.%m.%Y"  # e.g. 100% day first
_PRIVATE = "hidden"
TABLE = {"a": 1}


def main():
    if TRAIN_SIZE < 0:
        raise UserError("--train-size must be >= 0")
    print(TRAIN_SIZE, LEARNING_RATE, DEVICE, FORCE, FONTS)


if __name__ == "__main__":
    cli.run(main, globals())
'''


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.py"
    path.write_text(textwrap.dedent(SCRIPT))

    def run(*args):
        import os
        from conftest import REPO
        env = dict(os.environ, PYTHONPATH=str(REPO))
        return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=env)
    return run


def test_defaults_and_overrides(demo):
    assert demo().stdout.split() == ["200000", "0.5", "auto", "False", "None"]
    result = demo("--train-size", "5", "--learning-rate=0.01", "--device", "gpu", "--force", "--fonts", "x")
    assert result.stdout.split() == ["5", "0.01", "gpu", "True", "x"]


def test_help_lists_each_constant_with_its_comment_and_default(demo):
    text = demo("--help").stdout
    for flag in ("--train-size", "--learning-rate", "--device", "--force", "--no-force", "--fonts"):
        assert flag in text
    assert "training images (default: 200000)" in text and "A demo script." in text
    assert "e.g. 100% day first (default: %d.%m.%Y)" in text  # a % in a comment is text, not a format
    assert "--private" not in text and "--table" not in text
    lesson, system = text.split("System settings:")
    assert "--train-size" in lesson and "--force" in lesson and "--fonts" in system


def test_bad_values_give_one_line_and_status_2(demo):
    for args in (["--train-size", "many"], ["--device", "tpu"], ["--unknown", "1"]):
        result = demo(*args)
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "(see --help)" in result.stderr


def test_user_errors_are_one_line_without_traceback(demo):
    result = demo("--train-size", "-1")
    assert result.returncode == 1
    assert result.stderr == "demo.py: error: --train-size must be >= 0\n"


def test_tensorflow_start_up_log_is_hidden_and_the_rest_passes(tmp_path):
    """Importing TensorFlow through workshop.quiet_tensorflow writes nothing to stderr; the
    filter holds back native start-up noise and lets every other line pass."""
    import os
    from conftest import REPO
    code = ("import os, sys\n"
            "from workshop.quiet_tensorflow import native_stderr_filtered\n"
            "print('after the import', file=sys.stderr)\n"
            "with native_stderr_filtered():\n"
            "    os.write(2, b'I0000 cudart_stub.cc:31] Could not find cuda drivers\\nkept 1\\n')\n"
            "    print('kept 2', file=sys.stderr)\n"
            "print('kept 3', file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SHOW_TF_LOG", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.splitlines() == ["after the import", "kept 1", "kept 2", "kept 3"]


def test_as_flags_gives_back_the_settings_it_was_made_from(tmp_path):
    import runpy
    from workshop import cli
    path = tmp_path / "demo.py"
    path.write_text(textwrap.dedent(SCRIPT))
    changed = runpy.run_path(str(path))
    cli.parse_flags(changed, ["--train-size", "7", "--force", "--fonts", "x", "--learning-rate", "5e-4"])
    flags = cli.as_flags(changed, DEVICE="gpu")
    assert "--force" in flags and "--device" in flags
    fresh = runpy.run_path(str(path))
    cli.parse_flags(fresh, flags)
    assert cli.settings(fresh) == {**cli.settings(changed), "DEVICE": "gpu"}
    assert cli.settings(fresh)["LEARNING_RATE"] == 5e-4 and cli.settings(fresh)["FONTS"] == "x"
    cli.parse_flags(fresh, cli.as_flags(runpy.run_path(str(path))))  # the defaults, --no-force among them
    assert not fresh["FORCE"] and fresh["TRAIN_SIZE"] == 200000


def test_in_a_notebook_the_settings_as_the_notebook_has_them_are_checked_as_flags(tmp_path):
    """run_in_notebook: the namespace's values (edited, or set by papermill) pass argparse's checks, or
    stop with one UserError line; main() sees them converted."""
    import runpy
    from workshop import cli
    from workshop.errors import UserError
    path = tmp_path / "demo.py"
    path.write_text(textwrap.dedent(SCRIPT))
    seen = []
    namespace = {k: v for k, v in runpy.run_path(str(path)).items() if k != "__file__"}  # a notebook has none
    namespace.update(TRAIN_SIZE="7", DEVICE="cpu", FORCE=True)  # e.g. papermill's -p TRAIN_SIZE '7'
    cli.run_in_notebook(lambda: seen.append(cli.settings(namespace)), namespace, str(path))
    assert seen[0]["TRAIN_SIZE"] == 7 and seen[0]["DEVICE"] == "cpu" and seen[0]["FORCE"] is True
    for name, value, problem in (("DEVICE", "tpu", "setting --device: invalid choice: 'tpu'"),
                                 ("TRAIN_SIZE", "many", "setting --train-size: invalid int value: 'many'")):
        with pytest.raises(UserError, match=problem) as raised:
            cli.run_in_notebook(lambda: seen.append("ran"), {**namespace, name: value}, str(path))
        assert raised.value._render_traceback_() == [f"error: {raised.value}"]  # what Jupyter shows: one line
    assert "ran" not in seen
