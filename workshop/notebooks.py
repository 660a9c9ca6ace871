"""The lessons as Jupyter notebooks, made from the scripts: `make notebooks` (python -m workshop.notebooks).

The scripts stay the source; notebooks/<script>.ipynb is written from each, and a test checks that
writing them again changes nothing. A notebook reads as its script: the docstring; a set-up cell
(in Colab: the repository, the packages and the data; elsewhere nothing); the imports; the settings,
tagged `parameters` (papermill's -p NAME VALUE sets them, as the flags do); a cell per function,
the comment above a function as text; a last cell that runs main() with the notebook's settings.

A short generator rather than jupytext's paired scripts: the set-up and the last cell belong to the
notebooks only, and the scripts read as they are, with no cell markers.
"""
import ast
import sys
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
GITHUB = "OWNER/REPO"  # the repository's address on GitHub (the README says where to change it)
# each lesson, and what its set-up in Colab prepares: notMNIST, Spark (with the Java it needs)
LESSONS = {
    "create_notmnist.py": (),
    "notmnist_classifier.py": ("notmnist",),
    "notmnist_classifier_CNN.py": ("notmnist",),
    "LSTM.py": (),
    "load_forecasting.py": (),
    "spark_model_selection.py": ("notmnist", "spark"),
    "notmnist_distributed.py": ("notmnist", "spark"),
}


def set_up_cell(needs):
    """The cell a teacher debugs first: in Colab, plain commands, each shown as it runs."""
    requirements = "requirements-spark.txt" if "spark" in needs else "requirements.txt"
    lines = [
        "# Set-up. In Colab: the workshop's code, the packages this lesson needs and its data. If Colab then",
        "# asks to restart the session (its own TensorFlow and NumPy differ from the workshop's), restart it",
        "# (Runtime > Restart session) and run this cell again: the second time it finds everything in place.",
        "# Elsewhere (Jupyter on your machine: see the README) it only moves to the repository's folder.",
        "import os",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f"    !test -d /content/workshop || git clone --depth 1 https://github.com/{GITHUB} /content/workshop",
        "    %cd /content/workshop",
        f"    !pip install --quiet -r {requirements}",
        "    !nvidia-smi > /dev/null 2>&1 && pip install --quiet \"tensorflow[and-cuda]\" -c requirements.txt  # on a GPU",
    ]
    if "spark" in needs:
        lines.append("    !java -version 2>&1 | grep -q 'version \"\\(1[7-9]\\|2[0-9]\\)' || (apt-get update -qq && "
                     "apt-get install -qq openjdk-17-jre-headless > /dev/null)  # PySpark 4 needs Java 17+")
    if "notmnist" in needs:
        lines.append("    !python create_notmnist.py --synthetic-if-offline  # the real notMNIST (once; offline: synthetic)")
    lines += ['elif not os.path.isdir("workshop") and os.path.isdir("../workshop"):',
              '    os.chdir("..")  # Jupyter starts in notebooks/: the lesson\'s paths start in the repository']
    return "\n".join(lines)


def markdown_of_docstring(script, docstring):
    """The title, the text, and the indented lines (commands) as code blocks."""
    title, _, body = docstring.strip().partition("\n")
    out, code = [f"# {title.strip()}", "",
                 f"*The lesson `{script}` as a notebook, made by `make notebooks`: edit the script, not this.*", ""], []
    for line in body.strip("\n").splitlines() + [""]:
        if line.startswith("  ") and line.strip():
            code.append(line)
            continue
        if code:
            indent = min(len(c) - len(c.lstrip()) for c in code)
            out += ["```", *(c[indent:] for c in code), "```"]
            code = []
        out.append(line)
    return "\n".join(out).strip()


def leading_comments(lines, start):
    """The index of the first of the full-line comments right above line index `start`."""
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def notebook(script):
    """The notebook of `script` (a file name in the repository), as an nbformat object."""
    source = (REPOSITORY / script).read_text(encoding="utf-8")
    lines, tree = source.splitlines(), ast.parse(source)
    body = tree.body
    docstring = ast.get_docstring(tree, clean=False)
    if not docstring or not body[-1:] or ast.unparse(body[-1]) != "if __name__ == '__main__':\n    cli.run(main, globals())":
        raise ValueError(f"{script}: a lesson has a docstring and ends with `cli.run(main, globals())`")
    imports = [node for node in body[1:] if isinstance(node, (ast.Import, ast.ImportFrom))]
    definitions = [node for node in body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]

    def first_line(node):  # 0-based, with its decorators
        return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    starts = [leading_comments(lines, first_line(node)) for node in definitions]

    def code(first, last):  # the script's lines first to last (0-based, last left out)
        return "\n".join(lines[first:last]).strip("\n")

    cells = [nbformat.v4.new_markdown_cell(markdown_of_docstring(script, docstring)),
             nbformat.v4.new_code_cell(set_up_cell(LESSONS[script])),
             nbformat.v4.new_code_cell(code(first_line(imports[0]), imports[-1].end_lineno)),
             nbformat.v4.new_markdown_cell("## Settings\n\nEach is also a flag of the script (`STEPS`: `--steps`) and a "
                                           "parameter of papermill (`-p STEPS 100`). Change them here, then run the "
                                           "notebook."),
             nbformat.v4.new_code_cell(code(imports[-1].end_lineno, starts[0]), metadata={"tags": ["parameters"]})]
    for node, start, end in zip(definitions, starts, starts[1:] + [first_line(body[-1])]):
        comment = lines[start:first_line(node)]
        if comment:  # the comment above a function is its cell's text
            cells.append(nbformat.v4.new_markdown_cell("\n".join(line.lstrip("# ") for line in comment)))
        cells.append(nbformat.v4.new_code_cell(code(first_line(node), end)))
    cells += [nbformat.v4.new_markdown_cell("## Run\n\nThe lesson with the settings above, each checked as its flag "
                                            "would be: a bad one is one line."),
              nbformat.v4.new_code_cell(f'cli.run_in_notebook(main, globals(), "{script}")')]
    for number, cell in enumerate(cells):
        cell["id"] = f"{Path(script).stem}-{number}"  # the same ids each time: regenerating changes nothing
    book = nbformat.v4.new_notebook(cells=cells)
    book.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}, "colab": {"provenance": []}}
    return book


def text(script):
    return nbformat.writes(notebook(script)) + "\n"


def path(script):
    return REPOSITORY / "notebooks" / f"{Path(script).stem}.ipynb"


def main():
    for script in LESSONS:
        try:
            target, wanted = path(script), text(script)
        except ValueError as problem:
            return f"make notebooks: {problem}"  # one line, exit status 1
        if not target.is_file() or target.read_text(encoding="utf-8") != wanted:
            target.parent.mkdir(exist_ok=True)
            target.write_text(wanted, encoding="utf-8")
            print(f"Wrote {target.relative_to(REPOSITORY)}")
    print(f"{len(LESSONS)} notebooks in notebooks/ match their scripts")


if __name__ == "__main__":
    sys.exit(main())
