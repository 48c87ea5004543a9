"""Exact Kolmogorov-Smirnov distances of many (xmin, xmax, alpha) candidates at once.

Definition (the convention of the whole package): for the n_tail points in [xmin, xmax],

    D = max over integers x in [xmin, xmax] of |S(x) - P(x)|

with S(x) the fraction of those points >= x and P(x) = P(X >= x) under the fitted truncated power
law (paper eq. 4). Where the supremum is attained: both functions are step functions of the
integer x, and S is constant on each run of integers (v_{l-1}, v_l] between consecutive distinct
data values v_{l-1} < v_l in range (the first run is [xmin, v_first]) while P decreases along it,
so |S - P| is largest at one end of a run. With F(x) = P(X <= x) and E(x) the empirical CDF of
the points in range, S(x) = 1 - E(x - 1) and P(x) = 1 - F(x - 1), which gives

    D = max_l max(|E(v_l) - F(v_l)|, |E(v_{l-1}) - F(v_l - 1)|)

over the distinct data values in range only (E(v_0) = 0; above the last value S = 0 and P is
largest at the run's start, the l = last term). The cost depends on the number of distinct
values, never on their size: conv-layer degrees of 10^5 and more are handled like fc degrees.
For the continuous model (eqs. 2-3) F is continuous and D = max_l max(|E(v_l) - F(v_l)|,
|E(v_{l-1}) - F(v_l)|), the usual KS statistic.

Computation: a matrix with one column per candidate and one row per integer of a grid: the data
values, the integers of the short gaps between them, and for each longer gap its last integer
v_l - 1 standing for the whole gap (one Euler-Maclaurin sum per gap and candidate, with each
candidate's Bernoulli coefficients computed once). For a fixed xmin below the first value v_i in
range, the row just above v_i holds the sum from xmin to v_i - 1. The model CDF is a cumulative
sum down the rows (for the continuous model it is evaluated in closed form), and |E - F| is
evaluated at every row: the rows are integers of the range, so extra rows cannot exceed the
supremum, and the rows v_l and v_l - 1 it needs are all there. Columns are sorted by xmin, so the
rows below each xmin are zeroed with one slice per xmin; above xmax both CDFs are clipped at
their values at the last value in range, which only repeats that row's difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import exprel

from pl_powerlaw.fitting.sums import em_coefficients, power_sums, threshold_upper

SHORT_GAP = 16  # gaps of at most this many integers become grid rows; longer ones one sum each
_CHUNK = 1 << 19  # matrix entries per block of columns (bounds the work buffers: 8 MiB)


@dataclass(frozen=True)
class _Grid:
    """Rows of the CDF matrix for the data values v[c0..c1] (see the module docstring)."""

    log_grid: np.ndarray  # ln of the row integers (row 0: v[c0] - 1), or of the values
    data_rows: np.ndarray  # row of each value v[c0..c1]
    cum: np.ndarray  # points <= each row's integer
    gap_index: np.ndarray  # indices l (into v) of the long gaps (v_{l-1}, v_l): one row each
    gap_rows: np.ndarray  # their rows (the integer v_l - 1)


def _grid(v: np.ndarray, cum: np.ndarray, c0: int, c1: int, discrete: bool) -> _Grid:
    values = v[c0 : c1 + 1]
    below_first = cum[c0 - 1] if c0 > 0 else 0.0
    if discrete:
        inner = np.diff(values) - 1.0  # integers strictly between consecutive values
        short = inner <= SHORT_GAP
        rows_before = np.where(short, inner, 1.0)  # short gap: its integers; long gap: one row
        gap_index = np.flatnonzero(~short) + c0 + 1
    else:
        rows_before = np.ones(values.size - 1)  # one row per interval (v_{l-1}, v_l)
        gap_index = np.zeros(0, dtype=np.int64)
    data_rows = np.concatenate([[1], 1 + np.cumsum(rows_before + 1.0)]).astype(np.int64)
    n_rows = int(data_rows[-1]) + 1
    # Discrete: each row's integer is its data value minus its distance to the next data row.
    # Continuous: an interval row takes the CDF at its right end, the next data value.
    grid = values[np.searchsorted(data_rows, np.arange(n_rows))]
    if discrete:
        next_row = np.repeat(data_rows, np.diff(np.concatenate([[-1], data_rows])))
        grid = grid - (next_row - np.arange(n_rows))
    cum_rows = np.concatenate([[below_first], cum[c0 : c1 + 1]])
    row_cum = cum_rows[np.searchsorted(data_rows, np.arange(n_rows), side="right")]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_grid = np.log(grid)
    gap_rows = data_rows[gap_index - c0] - 1
    return _Grid(log_grid, data_rows, row_cum, gap_index, gap_rows)


def ks_distances(
    values: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    alpha: np.ndarray,
    log_m: np.ndarray,
    s0: np.ndarray,
    discrete: bool = True,
) -> np.ndarray:
    """KS distance (module docstring) of every candidate.

    Args:
        values: sorted distinct data values v.
        counts: their counts.
        lo: xmin of each candidate (sorted ascending).
        hi: xmax of each candidate.
        i: index in ``values`` of the first value >= xmin.
        j: index of the last value <= xmax (>= i).
        alpha: exponent of each candidate.
        log_m: ln of its reference point (xmin if alpha >= 0 else xmax, see
            :func:`~pl_powerlaw.fitting.sums.reference_log`).
        s0: its scaled normaliser ``sum_{xmin}^{xmax} (k/m)^-alpha`` (or the integral).
        discrete: discrete (eq. 4) or continuous (eqs. 2-3) model.

    Returns:
        One distance per candidate.
    """
    out = np.empty(lo.size)
    if lo.size == 0:
        return out
    c0, c1 = int(i.min()), int(j.max())
    cum = np.cumsum(counts).astype(float)
    grid = _grid(values, cum, c0, c1, discrete)
    n_rows = grid.log_grid.size
    step = max(1, _CHUNK // n_rows)
    work = np.empty((2, n_rows, min(step, lo.size)))
    em = None
    if grid.gap_index.size:  # Euler-Maclaurin coefficients and thresholds of every candidate
        em = np.stack([c[0] for c in em_coefficients(alpha)]), threshold_upper(alpha)
    for start in range(0, lo.size, step):
        sl = slice(start, start + step)
        column = _Columns(lo[sl], hi[sl], i[sl], j[sl], alpha[sl], log_m[sl], s0[sl], cum, counts)
        if em is not None:
            column.em_coef, column.em_threshold = em[0][:, sl], em[1][sl]
        out[sl] = _block(values, grid, c0, column, discrete, work)
    return out


class _Columns:
    """The candidates of one block: bounds, exponents and the empirical counts they need."""

    def __init__(self, lo, hi, i, j, alpha, log_m, s0, cum, counts):
        self.lo, self.hi, self.i, self.j = lo, hi, i, j
        self.alpha, self.log_m = alpha, log_m
        self.base = cum[i] - counts[i]  # points below xmin
        self.top = cum[j]
        self.n_tail = self.top - self.base
        self.scale = self.n_tail / s0  # the matrix holds n_tail * F = n_tail / Z * sum (k/m)^-a


def _zero_above(matrix: np.ndarray, first_rows: np.ndarray) -> None:
    """Zero, in each column p, the rows above ``first_rows[p]`` (columns sorted by that row)."""
    starts = np.flatnonzero(np.diff(first_rows, prepend=-1))
    stops = np.append(starts[1:], first_rows.size)
    for start, stop in zip(starts, stops, strict=True):
        matrix[: first_rows[start], start:stop] = 0.0


def _block(values, grid, c0, col, discrete, work):
    n_cols = col.i.size
    model = work[0, :, :n_cols]
    diff = work[1, :, :n_cols]
    first_row = grid.data_rows[col.i - c0]  # row of the first value in range
    if discrete:
        with np.errstate(invalid="ignore", over="ignore"):
            np.multiply.outer(grid.log_grid, -col.alpha, out=model)  # (grid rows, candidates)
            model += col.alpha * col.log_m + np.log(col.scale)
            np.exp(model, out=model)  # n_tail (k/m)^-alpha / S_0
            if grid.gap_index.size:  # a long gap's row stands for all its integers
                model[grid.gap_rows] = _gap_sums(values, grid.gap_index, col) * col.scale
        _zero_above(model, first_row)
        _add_head(model, values, first_row, col)
        model[0] += col.base
        if n_cols < 128:  # cumulative sum down the rows: base + n_tail * F(row)
            np.cumsum(model, axis=0, out=model)
        else:  # a loop over wide rows is faster than np.cumsum(axis=0)
            for row in range(1, model.shape[0]):
                model[row] += model[row - 1]
    else:
        _continuous_cdf(grid.log_grid, np.log(col.lo), np.log(col.hi), col.alpha, model)
        model *= col.n_tail
        model += col.base
    last = model[grid.data_rows[col.j - c0], np.arange(n_cols)]
    np.fmin(model, last, out=model)  # clipped above xmax (NaN from inf - inf when alpha << 0)
    np.minimum(grid.cum[:, None], col.top, out=diff)
    diff -= model  # n_tail * (E - F), repeated above xmax
    _zero_above(diff, first_row - 1)
    worst = np.maximum(diff.max(axis=0), -diff.min(axis=0))
    return worst / col.n_tail


def _gap_sums(values, gap_index, col):
    """``sum_{k=a}^{b} (k/m)^-alpha`` over each long gap [a, b] = [v_{l-1} + 1, v_l - 1] (rows)
    and candidate (columns), by Euler-Maclaurin with per-column Bernoulli coefficients.

    Entries whose gap starts below the candidate's Euler-Maclaurin threshold and lie in range are
    recomputed by :func:`~pl_powerlaw.fitting.sums.power_sums`; out-of-range entries are never
    used (zeroed above xmin, clipped above xmax).
    """
    a = values[gap_index - 1] + 1.0
    b = values[gap_index] - 1.0
    la, lb = np.log(a), np.log(b)
    length = (lb - la)[:, None]
    alpha, shift = col.alpha, col.alpha * col.log_m
    fa = np.exp(np.multiply.outer(la, -alpha) + shift)  # (a/m)^-alpha
    fb = np.exp(np.multiply.outer(lb, -alpha) + shift)
    z = 1.0 - alpha
    # int_a^b (x/m)^-alpha dx = c f(c) L exprel(-|z| L), c the end where x f(x) is largest.
    out = np.where(z > 0, b[:, None] * fb, a[:, None] * fa) * length
    out *= exprel(-np.abs(z) * length)
    out += 0.5 * (fa + fb)
    coef = col.em_coef
    for end, f, sign in ((a, fa, -1.0), (b, fb, 1.0)):
        y = (1.0 / (end * end))[:, None]
        acc = np.broadcast_to(coef[-1], f.shape).copy()
        for k in range(len(coef) - 2, -1, -1):  # Horner in 1/x^2
            acc *= y
            acc += coef[k]
        acc *= (sign / end)[:, None]
        out += acc * f
    # Entries in range whose gap starts below the threshold: summed exactly instead.
    low = a[:, None] < col.em_threshold
    if low.any():
        low &= (gap_index[:, None] > col.i) & (gap_index[:, None] <= col.j)
        rows, cols = np.nonzero(low)
        if rows.size:
            (exact,) = power_sums(a[rows], b[rows], alpha[cols], col.log_m[cols], 0)
            out[rows, cols] = exact
    return out


def _add_head(model, values, first_row, col):
    """For a fixed xmin below the first value v_i in range: put sum_{xmin}^{v_i - 1} in the row
    above v_i (the rows of those integers are zeroed with everything below xmin)."""
    cols = np.flatnonzero(col.lo < values[col.i])
    if cols.size:
        start, end = col.lo[cols], values[col.i[cols]] - 1.0
        (sums,) = power_sums(start, end, col.alpha[cols], col.log_m[cols], 0)
        model[first_row[cols] - 1, cols] = sums * col.scale[cols]


def _continuous_cdf(log_x, log_lo, log_hi, alpha, out):
    """F(x) of eq. 3 for every row x and column: expm1(z t) / expm1(z L), t = ln(x/xmin), z = 1-alpha.

    For z > 0 numerator and denominator are multiplied by e^(-z L) so nothing overflows.
    """
    np.subtract.outer(log_x, log_lo, out=out)  # t
    length = log_hi - log_lo
    z = 1.0 - alpha
    with np.errstate(over="ignore", invalid="ignore"):
        for cols in (np.flatnonzero(z > 0), np.flatnonzero(z < 0), np.flatnonzero(z == 0)):
            if cols.size == 0:
                continue
            t, zc, lc = out[:, cols], z[cols], length[cols]
            if zc[0] > 0:
                value = (np.exp(zc * (t - lc)) - np.exp(-zc * lc)) / -np.expm1(-zc * lc)
            elif zc[0] < 0:
                value = np.expm1(zc * t) / np.expm1(zc * lc)
            else:
                value = t / lc
            out[:, cols] = value
