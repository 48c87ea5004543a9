"""``TPLFit``: the result of a truncated power-law fit, with a JSON-ready dictionary form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


def _plain(value: Any) -> Any:
    """A JSON-ready Python scalar: numpy scalars unwrapped, NaN and infinities become None."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"Expected a JSON scalar but got {type(value).__name__}")


@dataclass(frozen=True)
class TPLFit:
    """A discrete (paper eq. 4) or continuous (eqs. 2-3) truncated power-law fit.

    Counts: ``n`` positive values were fitted (``n_zero`` zeros were excluded), ``n_tail`` of them
    lie in [xmin, xmax], on ``n_distinct`` distinct values. Numbers that do not exist for a flagged
    fit are None (never NaN).

    Attributes:
        alpha: maximum-likelihood exponent (any real).
        xmin: lower cut-off (an int for discrete fits).
        xmax: upper cut-off.
        ks: Kolmogorov-Smirnov distance between the empirical and the fitted CCDF in range.
        n: number of positive values.
        n_tail: number of values in [xmin, xmax].
        n_zero: number of zero values (excluded from the fit).
        loglik: maximised log-likelihood of the values in range.
        p_value: bootstrap goodness-of-fit p-value (None when ``n_boot == 0``).
        p_value_se: its binomial standard error ``sqrt(p (1 - p) / n_boot_valid)``.
        alpha_se: asymptotic standard error of alpha, ``1 / sqrt(n_tail Var[ln X])``.
        n_distinct: distinct values in [xmin, xmax].
        n_candidates: (xmin, xmax) pairs that met ``min_tail`` and ``min_distinct``.
        n_boot: bootstrap replicates asked for.
        n_boot_valid: replicates whose search found a candidate (the p-value's denominator).
        discrete: discrete (True) or continuous model.
        r: search fraction: xmin among the smallest ceil(n/r) values, xmax among the largest.
        min_tail: least values in a candidate range.
        min_distinct: least distinct values in a candidate range.
        seed: bootstrap seed.
        flagged: True when no fit could be made; ``reason`` says why.
        reason: why the fit is flagged (None otherwise).

    Example:
        >>> fit = TPLFit(alpha=None, xmin=None, xmax=None, ks=None, n=0, n_tail=0, n_zero=3,
        ...              flagged=True, reason="no positive values")
        >>> TPLFit.from_dict(fit.as_dict()) == fit
        True
    """

    alpha: float | None
    xmin: int | float | None
    xmax: int | float | None
    ks: float | None
    n: int
    n_tail: int
    n_zero: int
    loglik: float | None = None
    p_value: float | None = None
    p_value_se: float | None = None
    alpha_se: float | None = None
    n_distinct: int = 0
    n_candidates: int = 0
    n_boot: int = 0
    n_boot_valid: int = 0
    discrete: bool = True
    r: float = 4.0
    min_tail: int = 10
    min_distinct: int = 5
    seed: int | None = 0
    flagged: bool = False
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fit as a dict of plain JSON-ready Python values (no NaN: missing numbers are None)."""
        return {key: _plain(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TPLFit:
        """Rebuild a fit from :meth:`as_dict` output; unknown keys are ignored, missing ones default.

        Raises:
            ValueError: if a required key (``alpha``, ``xmin``, ``xmax``, ``ks``, ``n``,
                ``n_tail``, ``n_zero``) is missing.
        """
        names = {f.name for f in fields(cls)}
        required = ("alpha", "xmin", "xmax", "ks", "n", "n_tail", "n_zero")
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"Expected the keys {list(required)} but {missing} are missing")
        return cls(**{key: value for key, value in data.items() if key in names})
