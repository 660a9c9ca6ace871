"""One mechanism for all scripts: UPPERCASE constants at the top become command-line flags.

A script declares its settings as plain constants, with a comment that explains each:

    TRAIN_SIZE = 200000  # training images, balanced over the ten letters
    DEVICE: Literal["auto", "cpu", "gpu"] = "auto"  # where to train

and ends with `cli.run(main, globals())`. Then `--train-size 5000` (or `--train-size=5000`)
overrides TRAIN_SIZE before main() runs, `--help` lists every constant with its comment and
default, booleans get `--flag/--no-flag`, a `Literal[...]` annotation limits the choices, and
an annotation such as `str | None` admits a constant whose default is None. Editing the
constant in the file changes the default, as in the 2016 scripts. A comment line
`# --- Title ---` starts a group: the constants below it are listed under Title in --help.

`run` also turns the expected failures (`UserError`) into one line on stderr and exit status 1.
In a notebook (made from the script by workshop/notebooks.py), `run_in_notebook` checks the
settings as the notebook has them, as if they were flags, and runs main().
"""
import argparse
import ast
import io
import sys
import tokenize
import types
import typing
from pathlib import Path

from workshop.errors import UserError

SIMPLE_TYPES = (bool, int, float, str)


def flag_name(constant):
    return "--" + constant.lower().replace("_", "-")


def _comments(source):
    """Maps line number -> the comment on that line (at its end, or alone)."""
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    return comments


def _dividers(source, comments):
    """{line: title} of the comment lines that start a group of settings: `# --- Title ---`."""
    lines = source.splitlines()
    return {number: text.strip("- ") for number, text in comments.items()
            if text.startswith("---") and lines[number - 1].lstrip().startswith("#")}


def _assignments(source):
    """Yields (name, node) of the file's top-level assignments to one name, in the order of the file."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name):
            yield target.id, node


def _constants_in(source):
    """Yields (name, line) of top-level UPPERCASE assignments, in the order of the file."""
    for name, node in _assignments(source):
        if name.isupper() and not name.startswith("_"):
            yield name, node.lineno


def _written(source):
    """{name: value} of the constants whose value in the file is a literal. A flag's type comes from
    there, not from the value now, so that a notebook's STEPS = "100" is checked as --steps 100 is."""
    written = {}
    for name, node in _assignments(source):
        try:
            written[name] = ast.literal_eval(node.value)
        except (ValueError, TypeError):
            pass  # e.g. cpu_count(): the value's own type
    return written


def _flag_type(annotation, default):
    """Returns (converter, choices) for a constant from its annotation or its default."""
    if annotation is None:
        return type(default), None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        return type(choices[0]), choices
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(options) == 1:
            return _flag_type(options[0], default)
    return annotation, None


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _NotebookParser(argparse.ArgumentParser):
    def error(self, message):  # in a notebook: one line, and the notebook stops there
        raise UserError(message.replace("argument --", "setting --"))


def build_parser(namespace, parser=_Parser):
    """An argparse parser with one flag per UPPERCASE constant of the script `namespace`."""
    script = Path(namespace["__file__"])
    source = script.read_text(encoding="utf-8")
    comments = _comments(source)
    dividers = _dividers(source, comments)
    annotations = namespace.get("__annotations__", {})
    doc = (namespace.get("__doc__") or "").strip()
    parser = parser(prog=script.name, description=doc.split("\n\n")[0] or None,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    groups, written = {}, _written(source)  # settings below a divider are listed under its title in --help
    for name, line in _constants_in(source):
        above = [divider for divider in dividers if divider < line]
        title = dividers[max(above)] if above else None
        group = groups.get(title) or groups.setdefault(title, parser.add_argument_group(title) if title else parser)
        default = namespace[name]
        annotation = annotations.get(name)
        if annotation is None and not isinstance(default, SIMPLE_TYPES):
            continue  # tables and other structures are not flags
        converter, choices = _flag_type(annotation, written.get(name, default))
        shown = "none" if default is None else default
        # argparse formats help with %: a literal % is written %%
        help_text = f"{comments.get(line, '')} (default: {shown})".strip().replace("%", "%%")
        if converter is bool:
            group.add_argument(flag_name(name), dest=name, default=default, help=help_text,
                               action=argparse.BooleanOptionalAction)
        else:
            group.add_argument(flag_name(name), dest=name, default=default, help=help_text,
                               type=converter, choices=choices, metavar=name)
    return parser


def settings(namespace):
    """The script's constants as a dict (after the flags), e.g. to record with a run."""
    return {name: namespace[name] for name, _ in _constants_in(Path(namespace["__file__"]).read_text())
            if isinstance(namespace[name], SIMPLE_TYPES) or namespace[name] is None}


def as_flags(namespace, **changes):
    """The command line that gives the script its current settings, with `changes` (by constant
    name): e.g. to start the script again as a worker process."""
    flags = []
    for name, value in {**settings(namespace), **changes}.items():
        if isinstance(value, bool):
            flags.append(flag_name(name) if value else "--no-" + flag_name(name)[2:])
        elif value is not None:
            flags += [flag_name(name), str(value)]
    return flags


def parse_flags(namespace, argv=None):
    """Applies the command line to the script's constants (in `namespace`, its globals())."""
    args = build_parser(namespace).parse_args(argv)
    namespace.update(vars(args))


def run(main, namespace, argv=None):
    """Parses the flags into the script's constants, then runs main() with friendly errors."""
    parse_flags(namespace, argv)
    prog = Path(namespace["__file__"]).name
    try:
        main()
    except UserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        sys.exit(130)


def run_in_notebook(main, namespace, script):
    """A notebook's last cell: runs main() with the settings as the notebook has them now (edited, or
    set by papermill), each checked as its flag would be; `script` is the file the notebook is made
    from. A UserError shows as its one line (workshop.errors) and stops the notebook."""
    namespace["__file__"] = str(Path(script).resolve())  # where the settings' comments and run folders come from
    namespace.update(vars(build_parser(namespace, _NotebookParser).parse_args(as_flags(namespace))))
    main()
