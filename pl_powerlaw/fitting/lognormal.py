"""Maximum likelihood of the discrete log-normal on [xmin, xmax], with the truncated power law as its
boundary, and its normalising sums without materialising the support.

The model: p(k) ~ exp(c1 ln k + c2 ln^2 k) / k on the integers of [xmin, xmax], with
c1 = mu / sigma^2 and c2 = -1 / (2 sigma^2) <= 0. On a finite support this is an exponential
family in (ln k, ln^2 k), defined (and regular) for every real c2, so the negative log-likelihood
is convex in (c1, c2) everywhere. At c2 = 0 it is the truncated power law (TPL) of exponent
alpha = 1 - c1 (paper eq. 4): the TPL is the boundary of the log-normal family.

The fit: with d1, d2 the natural parameters of the standardised u = (ln k - m) / s (m and s the
mean and standard deviation of ln x over the data), the TPL's own MLE is the optimum on the
boundary d2 = 0. By convexity (Karush-Kuhn-Tucker), it is the log-normal MLE iff the derivative
of the negative log-likelihood in d2 there is <= 0; otherwise the unconstrained optimum (a damped
Newton descent started at the TPL, so every step can only raise the likelihood) lies at d2 < 0.
The log-likelihood gain D = l_LN - l_TPL >= 0 is measured along that descent.

The sums Z = sum_k exp(e(k)) and sum_k u_k^j exp(e(k)) (j <= 4) with e = d1 u + d2 u^2 - ln k:
supports of at most ``DIRECT_MAX`` integers are summed term by term. Longer ones: terms below
e^-(``CUT`` + ln(#integers)) of the largest are dropped (e is quadratic in ln k, so the kept
integers form at most two runs), short runs are summed term by term, and long runs by the
Euler-Maclaurin formula: the integral by Gauss-Legendre panels in u, the end corrections from
the exact Taylor series of the summand (ln(1 + w) composed into exp of a quadratic), term by term
near an end where the correction series does not converge to 1e-17.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pl_powerlaw.fitting.distributions import tpl_logpmf
from pl_powerlaw.fitting.mle import fit_alpha

DIRECT_MAX = 1 << 16  # supports (and runs) of at most this many integers: summed term by term
CUT = 80.0  # terms below e^-(CUT + ln #integers) of the largest are dropped
_EM_TERMS = 8  # Bernoulli corrections B_2 .. B_16 (B_18 estimates the remainder)
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798)
_ORDER = 2 * _EM_TERMS + 1  # Taylor order of the end corrections
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_BLOCK = 1 << 16  # integers per block of a term-by-term sum
MAX_NEWTON = 100


@dataclass(frozen=True)
class _Quadratic:
    """e(t) = a2 t^2 + a1 t + a0 (t = ln k) for natural parameters d of u = (t - centre) / scale."""

    d1: float
    d2: float
    centre: float
    scale: float

    @property
    def coef(self) -> tuple[float, float, float]:
        c, s = self.centre, self.scale
        return (self.d2 / s**2, self.d1 / s - 2 * self.d2 * c / s**2 - 1.0,
                -self.d1 * c / s + self.d2 * c * c / s**2)  # fmt: skip

    def __call__(self, t: np.ndarray) -> np.ndarray:
        a2, a1, a0 = self.coef
        return (a2 * t + a1) * t + a0


def _series_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.convolve(a, b)[: a.size]


def _series_exp(q: np.ndarray) -> np.ndarray:
    """exp of a power series with q[0] = 0: g_n = (1/n) sum_k k q_k g_(n-k)."""
    g = np.zeros_like(q)
    g[0] = 1.0
    kq = np.arange(q.size) * q
    for n in range(1, q.size):
        g[n] = np.dot(kq[1 : n + 1], g[n - 1 :: -1][:n]) / n
    return g


_LOG1P = np.array([0.0] + [(-1.0) ** (n + 1) / n for n in range(1, _ORDER + 1)])


class _Sums:
    """The five sums S_j = sum_{k=a}^{b} u_k^j exp(e(k) - ref) of one parameter point."""

    def __init__(self, a: int, b: int, q: _Quadratic) -> None:
        self.a, self.b, self.q = a, b, q
        ta, tb = math.log(a), math.log(b)
        a2, a1, _ = q.coef
        cands = [ta, tb]
        if a2 < 0 and ta < -a1 / (2 * a2) < tb:
            cands.append(-a1 / (2 * a2))
        self.ref = float(max(q(np.array(cands))))

    def total(self) -> np.ndarray:
        out = np.zeros(5)
        for lo, hi in self._runs():
            out += self._run(lo, hi)
        return out

    def _runs(self) -> list[tuple[int, int]]:
        """Integer runs where e >= ref - CUT - ln(#integers) (at most two)."""
        a, b = self.a, self.b
        if b - a + 1 <= DIRECT_MAX:
            return [(a, b)]
        a2, a1, a0 = self.q.coef
        c = a0 - self.ref + CUT + math.log(b - a + 1.0)  # keep where a2 t^2 + a1 t + c >= 0
        ta, tb = math.log(a), math.log(b)
        if a2 == 0:
            if a1 == 0:
                return [(a, b)]
            root = -c / a1
            pieces = [(root, tb)] if a1 > 0 else [(ta, root)]
        else:
            disc = a1 * a1 - 4 * a2 * c
            if disc <= 0:
                return [(a, b)] if a2 > 0 else []
            sq = math.sqrt(disc)
            r = sorted(((-a1 - sq) / (2 * a2), (-a1 + sq) / (2 * a2)))
            pieces = [(r[0], r[1])] if a2 < 0 else [(ta, r[0]), (r[1], tb)]
        runs = []
        for t0, t1 in pieces:
            if t0 > tb or t1 < ta or t0 > t1:
                continue
            lo = a if t0 <= ta else max(a, math.floor(math.exp(t0)) - 1)
            hi = b if t1 >= tb else min(b, math.ceil(math.exp(t1)) + 1)
            if lo <= hi:
                runs.append((lo, hi))
        if len(runs) == 2 and runs[0][1] >= runs[1][0] - 1:
            runs = [(runs[0][0], runs[1][1])]
        return runs

    def _direct(self, lo: int, hi: int) -> np.ndarray:
        out = np.zeros(5)
        q = self.q
        for start in range(lo, hi + 1, _BLOCK):
            k = np.arange(start, min(hi, start + _BLOCK - 1) + 1, dtype=float)
            t = np.log(k)
            u = (t - q.centre) / q.scale
            w = np.exp(q(t) - self.ref)
            for j in range(5):
                out[j] += float(np.sum(w))
                w = w * u
        return out

    def _run(self, lo: int, hi: int) -> np.ndarray:
        if hi - lo + 1 <= DIRECT_MAX:
            return self._direct(lo, hi)
        n_lo = max(0, 64 - lo)  # Euler-Maclaurin from 64 on at the earliest
        n_hi = 0
        while True:
            top, bottom = hi - n_hi, lo + n_lo
            if top - bottom + 1 <= DIRECT_MAX:
                return self._direct(lo, hi)
            body = self._integral(bottom, top)
            end_lo, err_lo = self._end(bottom)
            end_hi, err_hi = self._end(top)
            body += end_hi - end_lo
            scale = float(np.max(np.abs(body))) + 1e-300
            ok_lo, ok_hi = err_lo <= 1e-17 * scale, err_hi <= 1e-17 * scale
            if ok_lo and ok_hi:
                out = body
                if n_lo:
                    out = out + self._direct(lo, bottom - 1)
                if n_hi:
                    out = out + self._direct(top + 1, hi)
                return out
            n_lo = n_lo if ok_lo else max(2 * n_lo, 1024)
            n_hi = n_hi if ok_hi else max(2 * n_hi, 1024)

    def _end(self, x0: int) -> tuple[np.ndarray, float]:
        """The Bernoulli corrections sum_q B_2q / (2q) [w^(2q-1)] F_j(x0 (1 + w)) / x0^(2q-1)
        (= B_2q / (2q)! F_j^(2q-1)(x0)) of each j, and the size of the first omitted one."""
        q = self.q
        a2, a1, _ = q.coef
        t0 = math.log(x0)
        u0 = (t0 - q.centre) / q.scale
        series_q = (2 * a2 * t0 + a1) * _LOG1P + a2 * _series_mul(_LOG1P, _LOG1P)
        f = math.exp(float(q(np.array(t0))) - self.ref) * _series_exp(series_q)
        u_series = _LOG1P / q.scale
        u_series[0] = u0
        out, err = np.zeros(5), 0.0
        inv = 1.0 / x0
        for j in range(5):
            corr = 0.0
            for m in range(1, _EM_TERMS + 1):
                corr += _BERNOULLI[m - 1] / (2 * m) * f[2 * m - 1] * inv ** (2 * m - 1)
            nxt = _BERNOULLI[_EM_TERMS] / (2 * _EM_TERMS + 2) * f[_ORDER] * inv**_ORDER
            err = max(err, abs(nxt))
            out[j] = corr
            f = _series_mul(f, u_series)
        return out, err

    def _integral(self, lo: int, hi: int) -> np.ndarray:
        """int_lo^hi F_j dx = s int u^j exp(d1 u + d2 u^2 - ref) du, plus (F(lo) + F(hi)) / 2."""
        q = self.q
        u_lo, u_hi = (math.log(lo) - q.centre) / q.scale, (math.log(hi) - q.centre) / q.scale
        width = u_hi - u_lo
        slope = max(abs(q.d1 + 2 * q.d2 * u_lo), abs(q.d1 + 2 * q.d2 * u_hi))
        curvature = 2 * width * math.sqrt(abs(q.d2))
        panels = int(min(4000, max(1, math.ceil(slope * width), math.ceil(curvature))))
        edges = np.linspace(u_lo, u_hi, panels + 1)
        half = 0.5 * np.diff(edges)
        u = ((edges[:-1] + edges[1:]) / 2)[:, None] + half[:, None] * _GL_X
        w = (half[:, None] * _GL_W) * np.exp(q.d1 * u + q.d2 * u * u - self.ref) * q.scale
        out = np.array([float(np.sum(w * u**j)) for j in range(5)])
        for x in (lo, hi):
            t = math.log(x)
            ux = (t - q.centre) / q.scale
            out += 0.5 * math.exp(float(q(np.array(t))) - self.ref) * ux ** np.arange(5)
        return out


def lognormal_moments(
    d: np.ndarray, xmin: int, xmax: int, centre: float, scale: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """ln Z, E[(u, u^2)] and Cov[(u, u^2)] of p(k) ~ exp(d1 u + d2 u^2) / k on [xmin, xmax],
    u = (ln k - centre) / scale (module docstring for the summation)."""
    sums = _Sums(int(xmin), int(xmax), _Quadratic(float(d[0]), float(d[1]), centre, scale))
    s0, s1, s2, s3, s4 = sums.total()
    m1, m2, m3, m4 = s1 / s0, s2 / s0, s3 / s0, s4 / s0
    mean = np.array([m1, m2])
    cov = np.array([[m2 - m1 * m1, m3 - m1 * m2], [m3 - m1 * m2, m4 - m2 * m2]])
    return sums.ref + math.log(s0), mean, cov


@dataclass(frozen=True)
class LognormalFit:
    """The discrete log-normal MLE on [xmin, xmax] (module docstring).

    Attributes:
        mu: location of ln k (inf on the boundary, where the MLE is the TPL).
        sigma: scale of ln k (inf on the boundary).
        boundary: whether the MLE is the TPL (c2 = 0).
        gain: D = l_LN - l_TPL >= 0.
        loglik: the maximised log-likelihood.
        logpmf: ln p(x_i) of every value.
        converged: whether the Newton descent met its tolerance (True on the boundary).
    """

    mu: float
    sigma: float
    boundary: bool
    gain: float
    loglik: float
    logpmf: np.ndarray
    converged: bool


def lognormal_mle(x: np.ndarray, xmin: int, xmax: int, alpha: float | None = None) -> LognormalFit:
    """Fit the discrete log-normal to the values ``x`` (all in [xmin, xmax], two distinct at least).

    Args:
        x: the values.
        xmin: lower end of the support.
        xmax: upper end.
        alpha: the TPL's MLE on the same values and range (computed when None).

    Returns:
        The :class:`LognormalFit`.
    """
    x = np.asarray(x, dtype=float)
    if alpha is None:
        alpha = fit_alpha(x, xmin, xmax)[0]
    log_x = np.log(x)
    centre, scale = float(np.mean(log_x)), float(np.std(log_x))
    if not scale > 0:
        raise ValueError(f"Expected at least two distinct values but got only {x[0]:g}")
    ux = (log_x - centre) / scale
    n = x.size
    stats = np.array([ux.sum(), (ux * ux).sum()])
    tpl = tpl_logpmf(x, alpha, int(xmin), int(xmax))
    tpl_loglik = float(np.sum(tpl))

    def objective(d):
        log_z, mean, cov = lognormal_moments(d, xmin, xmax, centre, scale)
        return n * log_z - d @ stats, n * mean - stats, n * cov

    d = np.array([scale * (1.0 - alpha), 0.0])  # the TPL: the optimum on the boundary d2 = 0
    value, grad, hess = objective(d)
    start = value
    boundary = grad[1] <= 0  # Karush-Kuhn-Tucker: no descent into d2 < 0
    converged = True
    if not boundary:
        d, value, converged = _newton(objective, d, value, grad, hess)
        boundary = d[1] >= 0
    if boundary:
        return LognormalFit(math.inf, math.inf, True, 0.0, tpl_loglik, tpl, True)
    c2 = d[1] / scale**2
    c1 = d[0] / scale - 2.0 * c2 * centre
    sigma2 = -0.5 / c2
    log_z = lognormal_moments(d, xmin, xmax, centre, scale)[0]
    logpmf = d[0] * ux + d[1] * ux * ux - log_x - log_z
    gain = max(float(start - value), 0.0)
    return LognormalFit(
        float(c1 * sigma2), math.sqrt(sigma2), False, gain, tpl_loglik + gain, logpmf, converged
    )


def _newton(objective, d, value, grad, hess):
    """Damped Newton descent of a convex objective (Armijo backtracking)."""
    for _ in range(MAX_NEWTON):
        step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(-grad @ step)
        if decrement <= max(1e-12, 1e-15 * abs(value)):
            return d, value, True
        t = 1.0
        for _ in range(60):
            trial = d + t * step
            t_value, t_grad, t_hess = objective(trial)
            if t_value <= value - 1e-4 * t * decrement:
                break
            t *= 0.5
        else:
            return d, value, True  # no decrease left at machine precision
        d, value, grad, hess = trial, t_value, t_grad, t_hess
    return d, value, False
