"""Validation of the data given to the fits and tests: clear errors, never a silent change."""

from __future__ import annotations

from typing import Any

import numpy as np

EXACT_INT = 2**53  # integers up to this magnitude are exact as float64


def check_data(x: Any, discrete: bool) -> np.ndarray:
    """``x`` as a 1-D float array after checking that no value is changed by the conversion.

    Args:
        x: the data: real numbers, finite, non-negative, integers when ``discrete``.
        discrete: whether the values must be integers.

    Returns:
        The values as float64.

    Raises:
        ValueError: naming the first offending value, for data that are not 1-D, not numbers,
            complex (even with zero imaginary parts: their casting would be silent), integers
            beyond 2**53 in magnitude (float64 would merge neighbours), non-finite, negative,
            or non-integer when ``discrete``.

    Example:
        >>> check_data([3, 1, 2], discrete=True)
        array([3., 1., 2.])
    """
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"Expected `x` to be 1-D but got shape {arr.shape}")
    if np.iscomplexobj(arr):
        bad = np.flatnonzero(arr.imag != 0)
        k = int(bad[0]) if bad.size else 0
        raise ValueError(
            f"Expected `x` to hold real numbers but got the complex value {complex(arr[k])!r} at index {k}"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"Expected `x` to hold numbers but got dtype {arr.dtype}")
    if arr.dtype.kind in "iu" and arr.size:
        big = np.flatnonzero((arr > EXACT_INT) | (arr < -EXACT_INT))
        if big.size:
            k = int(big[0])
            raise ValueError(
                f"Expected `x` to hold integers of magnitude at most 2**53 (exact as floats) "
                f"but got {int(arr[k])} at index {k}"
            )
    arr = arr.astype(float)
    checks = (
        (~np.isfinite(arr), "finite values"),
        (arr < 0, "non-negative values"),
        (arr != np.floor(arr) if discrete else np.zeros(arr.shape, bool), "integers (discrete)"),
    )
    for bad, expected in checks:
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"Expected `x` to hold {expected} but got {float(arr[k])!r} at index {k}"
            )
    return arr
