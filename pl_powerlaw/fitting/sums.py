"""Power sums and integrals: the normaliser of the truncated power law and its log-moments.

Everything here is vectorised over arrays of ranges and exponents and is accurate to a relative
error of about 1e-15 for every real exponent ``s`` (negative, zero, one and large ones included)
and for ranges of any length. The quantities are *scaled* by a reference point ``m`` so that
they neither overflow nor underflow::

    S_j = sum_{k=a}^{b} (k/m)^-s * ln(k/m)^j          (discrete, j = 0, 1, 2)
    I_j = int_a^b (x/m)^-s * ln(x/m)^j dx             (continuous)

With ``m = a`` for ``s >= 0`` and ``m = b`` for ``s < 0`` every term lies in [0, 1].
``S_0`` is the normaliser of paper eq. 4 up to the factor ``m^-s`` and ``I_0`` that of eqs. 2-3;
``S_1 / S_0 = E[ln X] - ln m`` gives the score equation of the maximum-likelihood fit.

How the discrete sums are computed: short ranges (at most ``DIRECT_MAX`` integers) and the first
integers of a range below the Euler-Maclaurin threshold are summed term by term; the rest,
[A, b], by the Euler-Maclaurin formula with p <= ``EM_TERMS`` Bernoulli corrections, whose
remainder is bounded by ``2 zeta(2p) / (2 pi)^(2p) * int_A^b |f^(2p)|``. p and A are chosen so
that this bound is below 1e-17 of the sum (see :func:`em_threshold`): when every range of a call
starts high enough, fewer corrections and no direct terms are needed.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

# B_2k / (2k)! for k = 1..8 (Bernoulli numbers B_2 = 1/6, B_4 = -1/30, ..., B_16 = -3617/510).
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
EM_TERMS = len(_BERNOULLI)
_EM_COEF = tuple(b / float(np.prod(np.arange(1.0, 2 * k + 3))) for k, b in enumerate(_BERNOULLI))
DIRECT_MAX = 8  # ranges of at most this many integers are summed term by term
_EM_TOL = 1e-17  # bound on the Euler-Maclaurin remainder relative to the sum
_SERIES_W = 1.5  # |w| below which psi_i(w) is summed as a series
_SERIES_N = 24  # terms of that series: 1.5^24 / 24! < 1e-19


def em_threshold(s: np.ndarray, terms: int = EM_TERMS) -> np.ndarray:
    """Smallest lower end A from which the Euler-Maclaurin sum of k^-s is accurate to 1e-17.

    With p = ``terms`` corrections the remainder on [A, b] is at most
    ``2 zeta(2p) |(s)_2p| / ((2 pi)^2p A^(2p-1))`` times the largest term ((s)_n the rising
    factorial; ``int_A^b |f^(2p)|`` bounded by A^(1-2p) times that term), which is solved for A
    with |(s)_2p| <= (|s|)_2p. The threshold increases with |s| and is 0 at s = 0 (exact formula).

    Args:
        s: exponents.
        terms: number p of Bernoulli corrections (1 to ``EM_TERMS``).

    Returns:
        Thresholds, same shape as ``s``.
    """
    s = np.abs(np.asarray(s, dtype=float))
    two_p = 2 * terms
    with np.errstate(divide="ignore", invalid="ignore"):
        # ln |(s)_2p| <= ln Gamma(|s| + 2p) - ln Gamma(|s|), exact for s >= 0 (-inf at s = 0).
        log_rising = np.where(s > 0, gammaln(s + two_p) - gammaln(s), -np.inf)
        log_a = (np.log(2.1 / _EM_TOL) + log_rising - two_p * np.log(2 * np.pi)) / (two_p - 1)
    return np.exp(log_a)


# Thresholds tabulated on a grid of |s| for p = 1..EM_TERMS; a lookup at the next grid point up
# is an upper bound (the threshold increases with |s|).
_GRID = np.concatenate([np.linspace(0.0, 16.0, 257), np.geomspace(16.0, 4096.0, 257)[1:]])
_TABLE = np.stack([em_threshold(_GRID, p) for p in range(1, EM_TERMS + 1)])


def threshold_upper(s: np.ndarray, terms: int = EM_TERMS) -> np.ndarray:
    """Fast upper bound of :func:`em_threshold` (table lookup at the next grid point up)."""
    s_abs = np.abs(np.asarray(s, dtype=float))
    index = np.searchsorted(_GRID, s_abs)
    out = _TABLE[terms - 1, np.minimum(index, _GRID.size - 1)]
    beyond = index >= _GRID.size
    if beyond.any():
        out = np.where(beyond, em_threshold(np.where(beyond, s_abs, 0.0), terms), out)
    return out


def _plan(a: np.ndarray, s: np.ndarray) -> tuple[int, np.ndarray]:
    """Bernoulli terms for a call and per-element direct terms below the threshold.

    Returns the smallest p for which every lower end ``a`` clears the threshold (no direct terms),
    or else ``EM_TERMS`` and the direct terms each element needs to reach its threshold.
    """
    top = float(np.abs(s).max())
    low = float(a.min())
    if top <= _GRID[-1]:
        fits = np.flatnonzero(_TABLE[:, int(np.searchsorted(_GRID, top))] <= low)
        if fits.size:
            return int(fits[0]) + 1, np.zeros_like(a)
    return EM_TERMS, np.maximum(np.ceil(threshold_upper(s)) - a, 0.0)


def em_coefficients(s: np.ndarray, terms: int = EM_TERMS, order: int = 0) -> list[np.ndarray]:
    """``a_k = B_2k / (2k)! * R^(d)_(2k-1)(s)`` for k = 1..terms, stacked over d = 0..order.

    R_q(s) = (-1)^q (s)_q is the factor of the q-th derivative of (x/m)^-s, R_q x^-q (x/m)^-s,
    and R^(d) its d-th derivative in s (for the log-moments). Returns one array of shape
    ``(order + 1,) + s.shape`` per k.
    """
    rising = np.zeros((order + 1,) + np.shape(s))
    rising[0] = 1.0
    coef = []
    for q in range(2 * terms - 1):
        new = rising * -(s + q)
        if order >= 1:
            new[1] -= rising[0]
        if order >= 2:
            new[2] -= 2.0 * rising[1]
        rising = new
        if q % 2 == 0:
            coef.append(_EM_COEF[q // 2] * rising)
    return coef


def _psi_series_coefficients(order: int) -> np.ndarray:
    n = np.arange(_SERIES_N)
    fact = np.cumprod(np.concatenate([[1.0], np.arange(1.0, _SERIES_N)]))
    return np.stack([1.0 / (fact * (n + i + 1)) for i in range(order + 1)])


_PSI_COEF = _psi_series_coefficients(2)


def psi(w: np.ndarray, order: int) -> np.ndarray:
    """``psi_i(w) = int_0^1 v^i e^(w v) dv`` for i = 0..order (<= 2) and ``w <= 0`` (-inf allowed).

    Closed forms for |w| >= 1.5, a power series below (no cancellation either way).

    Returns:
        Array of shape ``(order + 1,) + w.shape``.
    """
    w = np.asarray(w, dtype=float)
    shape = w.shape
    w = w.ravel()
    out = np.empty((order + 1, w.size))
    small = w > -_SERIES_W
    n_small = int(np.count_nonzero(small))
    if n_small < w.size:
        big = ~small if n_small else slice(None)
        wb = w[big]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            e = np.exp(wb)
            out[0][big] = np.expm1(wb) / wb
            if order >= 1:
                out[1][big] = (1.0 - e * (1.0 - wb)) / (wb * wb)
            if order >= 2:
                out[2][big] = (e * (wb * wb - 2.0 * wb + 2.0) - 2.0) / (wb * wb * wb)
    if n_small:
        sel = small if n_small < w.size else slice(None)
        ws = w[sel]
        coef = _PSI_COEF[: order + 1]
        acc = np.repeat(coef[:, -1:], ws.size, axis=1)
        for n in range(_SERIES_N - 2, -1, -1):  # Horner in w
            acc *= ws
            acc += coef[:, n : n + 1]
        out[:, sel] = acc
    return out.reshape((order + 1,) + shape)


def power_integrals(
    a: np.ndarray, b: np.ndarray, s: np.ndarray, log_m: np.ndarray, order: int = 0
) -> list[np.ndarray]:
    """Scaled integrals ``I_j = int_a^b (x/m)^-s ln(x/m)^j dx`` for j = 0..order (paper eqs. 2-3).

    With t = ln(x/m) the integrand is m e^((1-s) t) t^j; it is expanded around the end of
    [ln(a/m), ln(b/m)] where e^((1-s) t) is largest, which leaves ``psi_i(-|1-s| ln(b/a))``.

    Args:
        a: lower ends (> 0).
        b: upper ends (>= a; ``inf`` allowed where s > 1).
        s: exponents.
        log_m: ln of the reference point m.
        order: highest log-moment (0, 1 or 2).

    Returns:
        ``[I_0, ..., I_order]``, broadcast to a common shape.
    """
    a, b, s, log_m = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(a, b, s, log_m))
    z = 1.0 - s
    t0 = np.log(a) - log_m
    infinite = np.isinf(b)
    any_inf = bool(infinite.any())
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t1 = np.log(b) - log_m
        length = t1 - t0  # ln(b / a)
        from_top = z >= 0
        if any_inf:
            from_top &= ~infinite
        base = np.where(from_top, t1, t0)
        w = -np.abs(z) * length
        ps = psi(w, order)
        scale = np.exp(log_m + z * base)
        # lp_i = psi_i(w) L^(i+1), with the limit i! / |z|^(i+1) for an infinite range.
        lp = [ps[0] * length]
        for i in range(1, order + 1):
            lp.append(ps[i] * length ** (i + 1))
        if any_inf:
            for i in range(order + 1):
                lp[i] = np.where(infinite, _FACTORIAL[i] / np.abs(z) ** (i + 1), lp[i])
    out = [scale * lp[0]]
    if order >= 1:
        signed = np.where(from_top, -lp[1], lp[1])
        out.append(scale * (base * lp[0] + signed))
        if order >= 2:
            out.append(scale * (base * (base * lp[0] + 2.0 * signed) + lp[2]))
    return out


_FACTORIAL = (1.0, 1.0, 2.0)


def _direct_sums(
    a: np.ndarray, count: np.ndarray, s: np.ndarray, log_m: np.ndarray, order: int
) -> list[np.ndarray]:
    """``sum_{k=a}^{a+count-1} (k/m)^-s ln(k/m)^j`` term by term (flattened, one bincount)."""
    size = a.size
    count = count.astype(np.int64)
    total = int(count.sum())
    if total == 0:
        return [np.zeros(size) for _ in range(order + 1)]
    owner = np.repeat(np.arange(size), count)
    starts = np.cumsum(count) - count
    k = a[owner] + (np.arange(total) - starts[owner])
    ell = np.log(k) - log_m[owner]
    term = np.exp(-s[owner] * ell)
    sums = [np.bincount(owner, weights=term, minlength=size)]
    for _ in range(order):
        term = term * ell
        sums.append(np.bincount(owner, weights=term, minlength=size))
    return sums


def _em_corrections(
    lo: np.ndarray, hi: np.ndarray, s: np.ndarray, log_m: np.ndarray, order: int, terms: int
) -> list[np.ndarray]:
    """Endpoint terms of Euler-Maclaurin on [lo, hi]: (f(lo)+f(hi))/2 + sum_k c_k [f^(2k-1)].

    With f_0 = (x/m)^-s, its q-th derivative is R_q x^-q f_0 with R_q = (-1)^q (s)_q, and
    f_j = (x/m)^-s ln(x/m)^j = (-d/ds)^j f_0, so with U_d = sum_k c_k R^(d)_(2k-1) x^-(2k-1)
    (R^(d) the d-th derivative in s) the brackets are f_0 U_0, f_0 (l U_0 - U_1) and
    f_0 (l^2 U_0 - 2 l U_1 + U_2), l = ln(x/m).
    """
    ends = np.stack([lo, hi])  # (2, E)
    finite = np.isfinite(ends)
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.where(finite, ends, 1.0)
        ell = np.log(x) - log_m
        f0 = np.exp(-s * ell)
        if not finite.all():
            f0 = np.where(finite, f0, 0.0)
            ell = np.where(finite, ell, 0.0)
    coef = em_coefficients(s, terms, order)
    inv = 1.0 / x
    y = inv * inv
    acc = np.repeat(coef[-1][:, None], 2, axis=1)  # (order+1, 2, E)
    for k in range(terms - 2, -1, -1):
        acc *= y
        acc += coef[k][:, None]
    acc *= inv
    sign = np.array([-1.0, 1.0])[:, None]
    weight = f0 * sign  # -f(lo), +f(hi)
    half = 0.5 * f0
    out = [np.sum(weight * acc[0] + half, axis=0)]
    if order >= 1:
        out.append(np.sum(weight * (ell * acc[0] - acc[1]) + half * ell, axis=0))
    if order >= 2:
        poly = ell * (ell * acc[0] - 2.0 * acc[1]) + acc[2]
        out.append(np.sum(weight * poly + half * ell * ell, axis=0))
    return out


def power_sums(
    a: np.ndarray, b: np.ndarray, s: np.ndarray, log_m: np.ndarray, order: int = 0
) -> list[np.ndarray]:
    """Scaled discrete sums ``S_j = sum_{k=a}^{b} (k/m)^-s ln(k/m)^j`` for j = 0..order (eq. 4).

    Args:
        a: lower ends (integers >= 1, as floats or ints).
        b: upper ends (integers >= a; ``inf`` allowed where s > 1).
        s: exponents (any real).
        log_m: ln of the reference point m (choose m = a for s >= 0 and m = b for s < 0 to keep
            every term in [0, 1]; see :func:`reference_log`).
        order: highest log-moment (0, 1 or 2).

    Returns:
        ``[S_0, ..., S_order]``, broadcast to a common shape.
    """
    a, b, s, log_m = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(a, b, s, log_m))
    shape = a.shape
    a, b, s, log_m = a.ravel(), b.ravel(), s.ravel(), log_m.ravel()
    length = b - a + 1.0
    n_direct = length.copy()
    long = length > DIRECT_MAX
    n_long = int(np.count_nonzero(long))
    terms = EM_TERMS
    if n_long:
        sel = long if n_long < a.size else slice(None)
        terms, below = _plan(a[sel], s[sel])
        n_direct[sel] = np.minimum(below, length[sel])
    sums = _direct_sums(a, n_direct, s, log_m, order)
    em = n_direct < length
    n_em = int(np.count_nonzero(em))
    if n_em:
        sel = em if n_em < a.size else slice(None)
        lo = a[sel] + n_direct[sel]
        hi, se, lm = b[sel], s[sel], log_m[sel]
        integrals = power_integrals(lo, hi, se, lm, order)
        ends = _em_corrections(lo, hi, se, lm, order, terms)
        for j in range(order + 1):
            sums[j][sel] += integrals[j] + ends[j]
    return [v.reshape(shape) for v in sums]


def reference_log(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ln m with m = a where s >= 0 and m = b where s < 0 (the largest term of the sum)."""
    return np.log(np.where(np.asarray(s) >= 0, a, b))


def log_power_sum(
    alpha: float | np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray, discrete: bool = True
) -> np.ndarray:
    """ln of ``sum_{k=lo}^{hi} k^-alpha`` (paper eq. 4) or of ``int_lo^hi x^-alpha dx`` (eqs. 2-3).

    Args:
        alpha: exponents (any real; alpha > 1 where ``hi`` is infinite).
        lo: lower ends (positive integers when discrete).
        hi: upper ends (>= lo).
        discrete: sum over the integers (True) or integrate (False).

    Returns:
        The logarithms, broadcast to a common shape (a float for scalar inputs).

    Example:
        >>> float(np.exp(log_power_sum(2.0, 1, 3)))  # 1 + 1/4 + 1/9
        1.3611111111111112
    """
    alpha, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (alpha, lo, hi)))
    log_m = reference_log(lo, hi, alpha)
    func = power_sums if discrete else power_integrals
    (s0,) = func(lo, hi, alpha, log_m, 0)
    with np.errstate(divide="ignore"):
        out = -alpha * log_m + np.log(s0)
    return out[()] if out.ndim == 0 else out
