"""Input validation helpers: every error names the parameter and the allowed range."""
import numbers

import numpy as np


def positive_int(name, value):
    """Return ``value`` as int, requiring an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def real(name, value, low=-np.inf, high=np.inf, low_open=False, high_open=False):
    """Return ``value`` as float, requiring a finite real in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    bad_low = value <= low if low_open else value < low
    bad_high = value >= high if high_open else value > high
    if bad_low or bad_high:
        raise ValueError(f"{name} must lie in {interval(low, high, low_open, high_open)}, got {value!r}")
    return value


def interval(low, high, low_open=False, high_open=False):
    left = "(" if low_open or low == -np.inf else "["
    right = ")" if high_open or high == np.inf else "]"
    fmt = lambda v: "inf" if v == np.inf else ("-inf" if v == -np.inf else f"{v:g}")
    return f"{left}{fmt(low)}, {fmt(high)}{right}"


def finite_array(name, value, ndim=None, shape=None):
    """Return ``value`` as a float64 array, requiring real, finite entries and the given shape."""
    try:
        if np.iscomplexobj(value):   # NumPy would drop the imaginary part with only a warning
            raise TypeError(f"got complex values of dtype {np.asarray(value).dtype}")
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of real numbers ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-dimensional array, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def array_in_range(name, arr, low, high, low_open=False, high_open=False):
    """Require every entry of ``arr`` to lie in the interval."""
    bad_low = arr <= low if low_open else arr < low
    bad_high = arr >= high if high_open else arr > high
    bad = bad_low | bad_high
    if np.any(bad):
        first = np.flatnonzero(np.ravel(bad))[0]
        raise ValueError(f"{name} must lie in {interval(low, high, low_open, high_open)} "
                         f"at every entry, got {float(np.ravel(arr)[first])!r} at index {first}")
    return arr


def seed(value, name="seed"):
    """Return ``value`` as int, requiring an integer in [0, 2**64)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or not 0 <= value < 2 ** 64):
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def instance(name, value, cls, what):
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value
