"""Figures the scripts save: PNG files written atomically; shown below the cell in a notebook, elsewhere
only when asked (--show).

matplotlib is imported when the first figure is drawn, so that scripts (and the worker
processes they start) do not pay for it before they need it.
"""
import sys

from workshop.files import atomic_write


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # draw into files; no display needed, so nothing can block
    import matplotlib.pyplot as plt
    return plt


def save_figure(figure, path):
    """Writes the figure as a PNG file; in a notebook, also shows it below the cell."""
    with atomic_write(path) as file:
        figure.savefig(file, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(figure)
    if "ipykernel" in sys.modules:
        from IPython.display import Image, display
        display(Image(filename=str(path)))


def save_letter_grid(path, rows, letters, title):
    """One row of sample images (uint8, 28×28) per letter, labelled, in one PNG."""
    columns = max(len(row) for row in rows)
    figure, axes = pyplot().subplots(len(rows), columns, squeeze=False,
                                     figsize=(columns * 0.6, len(rows) * 0.6 + 0.4))
    for r, (letter, images) in enumerate(zip(letters, rows)):
        for c, axis in enumerate(axes[r]):
            axis.set_axis_off()
            if c < len(images):
                axis.imshow(images[c], cmap="gray", vmin=0, vmax=255)
        axes[r][0].text(-8, 14, letter, fontsize=12, ha="right", va="center")
    figure.suptitle(title, fontsize=10)
    save_figure(figure, path)
