"""CCDF figures of node-degree distributions with their truncated power-law fits (paper Fig. 1).

Numpy and matplotlib (Agg canvas) only. Each panel shows the empirical CCDF P(X >= x) of a layer's
positive degrees as log-log points and the fitted TPL's CCDF over [xmin, xmax] (paper eq. 4),
drawn as ``(n_above + n_tail P_TPL(X >= x)) / n`` with n_above the degrees above xmax, so that it
lies on the empirical curve where the model fits. The legend gives alpha, xmin, xmax, the KS
distance and the bootstrap p-value; a flagged fit shows its reason instead.

Figures are built on their own Agg canvas (:mod:`pl_powerlaw.plotting.canvas`), outside pyplot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pl_powerlaw.fitting.distributions import tpl_ccdf
from pl_powerlaw.fitting.result import TPLFit
from pl_powerlaw.plotting.canvas import new_figure

FitLike = TPLFit | Mapping[str, Any] | None
_MODEL_POINTS = 2000  # integers drawn at most along the fitted curve


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)
_MATHTEXT_POWER = re.compile(r"^\$\\mathdefault\{(?:(.+?)\\times)?10\^\{(-?\d+)\}\}\$$")


class _UnicodeLogFormatter(ticker.LogFormatterSciNotation):
    """matplotlib's log-axis labels (which ticks, which minor ones) as plain text: 2\u00d710\u00b2.

    Parsing the default mathtext labels is most of a log-log panel's drawing time.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        match = _MATHTEXT_POWER.match(label)
        if match is None:
            return label.removeprefix("$\\mathdefault{").removesuffix("}$")
        mantissa, exponent = match.groups()
        power = "10" + exponent.translate(_SUPERSCRIPT)
        return f"{mantissa}\u00d7{power}" if mantissa else power


def _plain_log_labels(ax: Axes) -> None:
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(_UnicodeLogFormatter())
        axis.set_minor_formatter(_UnicodeLogFormatter(labelOnlyBase=False))


def _as_fit(fit: FitLike) -> TPLFit | None:
    """A :class:`TPLFit` from a fit, its ``as_dict()`` or None."""
    if fit is None or isinstance(fit, TPLFit):
        return fit
    if isinstance(fit, Mapping):
        return TPLFit.from_dict(dict(fit))
    raise ValueError(f"Expected a TPLFit, its as_dict() or None but got {type(fit).__name__}")


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _model_curve(fit: TPLFit, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and the scaled model CCDF (n_above + n_tail P(X >= x)) / n over [xmin, xmax]."""
    lo, hi = float(fit.xmin), float(fit.xmax)
    if fit.discrete:
        if hi - lo + 1 <= _MODEL_POINTS:
            x = np.arange(lo, hi + 1)
        else:
            x = np.unique(np.round(np.geomspace(lo, hi, _MODEL_POINTS)))
    else:
        x = np.geomspace(lo, hi, _MODEL_POINTS)
    n = positive.size
    n_above = np.count_nonzero(positive > hi)
    n_tail = np.count_nonzero((positive >= lo) & (positive <= hi))
    ccdf = tpl_ccdf(x, fit.alpha, fit.xmin, fit.xmax, fit.discrete)
    return x, (n_above + n_tail * ccdf) / n


def null_band(null: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pointwise range of the empirical CCDFs of several degree samples (random pruning).

    Returns:
        ``(x, low, high)``: every positive value of any sample, and the least and greatest
        ``P(X >= x)`` over the samples there.

    Example:
        >>> x, low, high = null_band([[1, 2, 2], [2, 3, 3]])
        >>> x.tolist(), low.round(3).tolist(), high.round(3).tolist()
        ([1.0, 2.0, 3.0], [1.0, 0.667, 0.0], [1.0, 1.0, 0.667])
    """
    samples = [np.asarray(d, dtype=float).ravel() for d in null]
    samples = [d[d > 0] for d in samples]
    x = np.unique(np.concatenate(samples)) if samples else np.empty(0)
    curves = np.array([np.searchsorted(np.sort(d), x, side="left") for d in samples])
    ccdfs = 1.0 - curves / np.array([max(d.size, 1) for d in samples])[:, None]
    return x, ccdfs.min(axis=0), ccdfs.max(axis=0)


def plot_ccdf(
    ax: Axes,
    degrees: Any,
    fit: FitLike = None,
    title: str | None = None,
    null: Sequence[Any] | None = None,
    verdict: str | None = None,
) -> Axes:
    """Draw one layer's empirical CCDF and its fitted truncated power law on ``ax``.

    Args:
        ax: matplotlib axes.
        degrees: the layer's degrees (any 1-D array-like; zeros are counted, not drawn).
        fit: its fit (:class:`TPLFit`, its ``as_dict()``) or None for the data alone.
        title: axes title.
        null: degree samples of the same layer under random pruning, drawn as a grey band (the
            range of their CCDFs) behind the data.
        verdict: the layer's verdict, shown as the legend's title.

    Returns:
        ``ax``.

    Example:
        >>> fig = Figure()
        >>> ax = plot_ccdf(fig.add_subplot(), [1, 2, 2, 3, 5, 8], None, "toy")
        >>> ax.get_title()
        'toy'
    """
    fit = _as_fit(fit)
    d = np.asarray(degrees, dtype=float).ravel()
    positive = d[d > 0]
    n_zero = d.size - positive.size
    # An explicit ``y`` skips matplotlib's automatic title placement, which measures every tick
    # label of the axes (a third of a panel's drawing time); the title sits where it would. Its
    # place does not depend on its text, so :class:`~pl_powerlaw.plotting.canvas.TitledRenders`
    # can draw a figure once and only the title for the next moment of the same degrees.
    ax.set_title(title or "", fontsize=9, y=1.0)
    ax.set_xlabel("degree x", fontsize=8)
    ax.set_ylabel("P(X \u2265 x)", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    if positive.size == 0:
        ax.text(
            0.5,
            0.5,
            f"no positive degrees\n({n_zero} nodes of degree 0)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
        return ax
    if null:
        x, low, high = null_band(null)
        ax.fill_between(
            x, np.maximum(low, 0.5 / positive.size), high, step="post", color="0.8", lw=0,
            label=f"random pruning ({len(null)} draws)", zorder=0,
        )  # fmt: skip
    values, counts = np.unique(positive, return_counts=True)
    ccdf = np.cumsum(counts[::-1])[::-1] / positive.size
    label = f"data (n={positive.size}" + (f", {n_zero} zeros not shown)" if n_zero else ")")
    ax.loglog(values, ccdf, "o", ms=3, mfc="none", color="tab:blue", label=label)
    if fit is not None and fit.flagged:
        ax.text(
            0.03,
            0.03,
            f"fit flagged: {fit.reason}",
            transform=ax.transAxes,
            fontsize=7,
            color="tab:red",
            wrap=True,
        )
    elif fit is not None and fit.alpha is not None:
        x, y = _model_curve(fit, positive)
        label = (
            f"TPL \u03b1={fit.alpha:.3f}, xmin={fit.xmin:g}, xmax={fit.xmax:g}\n"
            f"KS={_fmt(fit.ks, '.4f')}, p={_fmt(fit.p_value, '.3f')}"
        )
        ax.loglog(x, y, "-", lw=2, color="tab:orange", label=label)
        for bound in (fit.xmin, fit.xmax):
            ax.axvline(bound, ls=":", lw=0.8, color="gray")
        ax.set_ylim(0.5 / positive.size, 1.5)  # the curve may dip below 1/n just under xmax
    _plain_log_labels(ax)
    legend = ax.legend(
        fontsize=7, loc="lower left" if fit is None or not fit.flagged else "upper right",
        title=verdict, title_fontsize=7,
    )  # fmt: skip
    legend.set_zorder(5)
    return ax


def ccdf_figure(
    degrees: Any,
    fit: FitLike = None,
    title: str | None = None,
    null: Sequence[Any] | None = None,
    verdict: str | None = None,
) -> Figure:
    """A one-panel figure of :func:`plot_ccdf` (Agg canvas; ``null``, ``verdict`` as there).

    Example:
        >>> fig = ccdf_figure([1, 2, 2, 3, 5, 8], None, "toy")
        >>> len(fig.axes)
        1
    """
    figure = new_figure(5.0, 4.0)
    figure.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.92)
    plot_ccdf(figure.add_subplot(), degrees, fit, title, null, verdict)
    return figure


def ccdf_grid_figure(layers: Sequence[tuple[str, Any, FitLike]], ncols: int = 4) -> Figure:
    """A grid of :func:`plot_ccdf` panels, one per ``(name, degrees, fit)`` layer.

    Args:
        layers: the layers, in order.
        ncols: panels per row (at most).

    Returns:
        The figure (Agg canvas).

    Raises:
        ValueError: if ``ncols`` < 1.
    """
    if ncols < 1:
        raise ValueError(f"Expected `ncols` >= 1 but got {ncols}")
    count = max(len(layers), 1)
    cols = min(ncols, count)
    rows = math.ceil(count / cols)
    figure = new_figure(3.6 * cols, 3.0 * rows)
    figure.subplots_adjust(
        left=0.5 / (3.6 * cols),
        right=1 - 0.1 / (3.6 * cols),
        bottom=0.4 / (3.0 * rows),
        top=1 - 0.3 / (3.0 * rows),
        wspace=0.35,
        hspace=0.45,
    )
    if not layers:
        figure.text(0.5, 0.5, "no node layers", ha="center", va="center")
        return figure
    for k, (name, degrees, fit) in enumerate(layers):
        plot_ccdf(figure.add_subplot(rows, cols, k + 1), degrees, fit, name)
    return figure
