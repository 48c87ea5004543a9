"""The package's one plotting convention: figures on their own Agg canvas, rendered once.

No module of the package uses pyplot or changes matplotlib's backend: a figure is built with
:func:`new_figure` (a ``Figure`` attached to its own ``FigureCanvasAgg``), drawn once into RGBA
pixels by :func:`render`, and those pixels serve both the PNG file (:func:`save_png`) and the
TensorBoard image. Nothing accumulates in pyplot's state, so long training runs leak no figures.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# matplotlib's drawing shares caches (text layout, glyphs) between figures: one figure is drawn at
# a time, whichever thread draws it (the degree monitor draws on a worker thread).
_DRAWING = threading.Lock()


def new_figure(width: float, height: float, dpi: int = 100, layout: str | None = None) -> Figure:
    """A ``width`` x ``height`` inch figure on its own Agg canvas.

    Args:
        width: width in inches.
        height: height in inches.
        dpi: dots per inch of the rendered pixels.
        layout: matplotlib layout engine (``"constrained"``) or None for fixed margins (fast).

    Example:
        >>> new_figure(2, 1).canvas.get_width_height()
        (200, 100)
    """
    figure = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def render(figure: Figure) -> np.ndarray:
    """Draw ``figure`` once and return its pixels, an ``(H, W, 4)`` uint8 RGBA array.

    Example:
        >>> render(new_figure(2, 1)).shape
        (100, 200, 4)
    """
    with _DRAWING:
        figure.canvas.draw()
        return np.asarray(figure.canvas.buffer_rgba()).copy()


class TitledRenders:
    """Figures that differ only in their title, drawn in full once per content.

    The degree monitor draws the same CCDF at every epoch of a phase whose masks do not change,
    titled by the moment (``fc1 (epoch3)``, ``fc1 (epoch4)``). The first :meth:`render` of a
    ``key`` draws the figure with an empty title and keeps its pixels; each call then restores
    them and draws only the title (matplotlib's blitting), which gives the same pixels as drawing
    the titled figure in full (the title overlaps no other artist and its place is fixed). The
    figure's first axes carry the title. The last ``size`` contents are kept.

    Example:
        >>> renders = TitledRenders()
        >>> def build():
        ...     figure = new_figure(2, 1)
        ...     figure.add_subplot().set_title("", y=1.0)
        ...     return figure
        >>> renders.render("one", build, "a").shape, renders.render("one", build, "b").shape
        ((100, 200, 4), (100, 200, 4))
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: dict[Hashable, tuple[Figure, object]] = {}

    def __getstate__(self) -> dict:  # a copy starts empty (figures hold canvases and buffers)
        return {"size": self.size, "_entries": {}}

    def render(self, key: Hashable, build: Callable[[], Figure], title: str) -> np.ndarray:
        """The pixels of ``build()`` titled ``title``; ``build`` is called once per ``key``."""
        with _DRAWING:
            if key not in self._entries:
                figure = build()
                figure.axes[0].title.set_text("")
                figure.canvas.draw()
                if len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = (figure, figure.canvas.copy_from_bbox(figure.bbox))
            figure, untitled = self._entries[key]
            figure.canvas.restore_region(untitled)
            axes = figure.axes[0]
            axes.title.set_text(title)
            axes.draw_artist(axes.title)
            return np.asarray(figure.canvas.buffer_rgba()).copy()


def encode_png(pixels: np.ndarray) -> bytes:
    """Rendered pixels as the bytes of a PNG file (fast compression: the figures are small)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def save_png(pixels: np.ndarray, path: str | os.PathLike) -> None:
    """Write rendered pixels as a PNG file (:func:`encode_png`)."""
    with open(path, "wb") as file:
        file.write(encode_png(pixels))


def tile_images(images: Sequence[np.ndarray], ncols: int = 4) -> np.ndarray:
    """Tile rendered panels (H, W, C uint8 arrays) row by row into one image, padded in white.

    The grid of already rendered one-layer figures costs a copy instead of a second drawing of
    every panel (``analyze`` of VGG-16 draws 16 of them).

    Raises:
        ValueError: if ``ncols`` < 1, ``images`` is empty or the channel counts differ.

    Example:
        >>> tile_images([np.zeros((2, 3, 4), np.uint8)] * 3, ncols=2).shape
        (4, 6, 4)
    """
    if ncols < 1:
        raise ValueError(f"Expected `ncols` >= 1 but got {ncols}")
    if not images:
        raise ValueError("Expected at least one image to tile but got none")
    channels = {image.shape[2] for image in images}
    if len(channels) != 1:
        raise ValueError(f"Expected images with one channel count but got {sorted(channels)}")
    cols = min(ncols, len(images))
    rows = math.ceil(len(images) / cols)
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    grid = np.full((rows * height, cols * width, channels.pop()), 255, dtype=np.uint8)
    for k, image in enumerate(images):
        top, left = (k // cols) * height, (k % cols) * width
        grid[top : top + image.shape[0], left : left + image.shape[1]] = image
    return grid
