"""Grids, points and the keys that name a point's result in a store.

A grid maps parameter names to lists of values; its points are every combination, in
the order of ``itertools.product`` over the names as given. A grid that is not a
product is a list of points, each a mapping of parameter names to values (points may
name different parameters, e.g. the tasks of a study). A point's key is the
SHA-256 of the canonical JSON of the point, the point function's identity and the
samtheory version, so that the same point of the same function under the same package
version always has the same key, in any process and on any machine.

The function's identity is its module, its qualified name and a fingerprint of its
bytecode: the instructions, constants (recursively, nested functions included),
names, variable names and plain default values. An edited body, docstring or default
therefore gets new keys and never reuses stale results, while editing a comment or
blank lines, or moving the function within its file, keeps them. Bytecode rather
than source text: it exists for every function (also those typed at a prompt or
built with ``exec``, where no source is available) and is what actually runs; a new
Python version changes it, which recomputes the points (the safe direction).
Not part of the key: globals and helpers the function calls, values captured by a
closure, and default values that are not plain numbers, strings, booleans, None or
tuples/lists of them (these are identified by their type only). Put everything that
changes the result in the grid, or use a new store when such a helper changes.
"""
from collections.abc import Mapping
import hashlib
import inspect
import itertools
import json
import math
import numbers
import types

import numpy as np

# Columns the table adds to the grid's and the returned values' names.
RESERVED = ("seconds", "version", "status", "error", "traceback", "key", "function")
SEQUENCE_TYPES = (list, tuple, range, np.ndarray)


def grid_points(grid):
    """The points of a grid, as dicts of plain values, in order; or raise.

    Parameters
    ----------
    grid : mapping of str -> list, or list of mappings
        A mapping gives every combination of its values (``validate_grid``,
        ``points``); a list of mappings of parameter names to single values gives those
        points, which must be distinct (each name a Python identifier, none of
        ``RESERVED``; values as in ``validate_grid``).

    Returns
    -------
    list of dict
    """
    if isinstance(grid, Mapping):
        return points(validate_grid(grid))
    if not isinstance(grid, (list, tuple)):
        raise TypeError(f"grid must be a mapping of parameter name -> list of values, or a list of "
                        f"points (mappings of parameter name -> value), got {type(grid).__name__}")
    if not grid:
        raise ValueError("grid must hold at least one point, got an empty list")
    out, seen = [], set()
    for index, point in enumerate(grid):
        if not isinstance(point, Mapping) or not point:
            raise TypeError(f"grid point {index} must be a non-empty mapping of parameter name -> value, "
                            f"got {type(point).__name__} {point!r:.200}")
        plain = {}
        for name, value in point.items():
            _check_name(name)
            plain[name] = plain_value(f"grid point {index} {name!r}", value)
        text = json.dumps(plain, sort_keys=True)     # 1 and 1.0, True and 1 stay apart
        if text in seen:
            raise ValueError(f"grid points must be distinct, point {index} {plain} appears twice")
        seen.add(text)
        out.append(plain)
    return out


def _check_name(name):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"grid parameter names must be Python identifiers, got {name!r}")
    if name in RESERVED:
        raise ValueError(f"grid parameter {name!r} clashes with a table column; "
                         f"reserved names are {list(RESERVED)}")


def validate_grid(grid):
    """Return ``grid`` as a dict of name -> list of plain values, or raise.

    Parameters
    ----------
    grid : mapping of str -> list
        Parameter names (valid Python identifiers, none of ``RESERVED``) to non-empty
        lists (or tuples, ranges, 1-d arrays) of distinct values, each a number, a
        string, a boolean or None (NumPy scalars are converted, NaN is refused).

    Returns
    -------
    dict of str -> list
    """
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping of parameter name -> list of values, "
                        f"got {type(grid).__name__}")
    if not grid:
        raise ValueError("grid must name at least one parameter, got an empty grid")
    out = {}
    for name, values in grid.items():
        _check_name(name)
        if not isinstance(values, SEQUENCE_TYPES) or (isinstance(values, np.ndarray) and values.ndim != 1):
            raise TypeError(f"grid[{name!r}] must be a list of values, got {type(values).__name__} "
                            f"{values!r}")
        values = [plain_value(f"grid[{name!r}]", v) for v in values]
        if not values:
            raise ValueError(f"grid[{name!r}] must hold at least one value, got an empty list")
        seen = set()
        for v in values:
            marker = (type(v), v)
            if marker in seen:
                raise ValueError(f"grid[{name!r}] must hold distinct values, {v!r} appears twice")
            seen.add(marker)
        out[name] = values
    return out


def plain_value(name, value):
    """``value`` as a Python None, bool, int, float or str, or raise naming ``name``."""
    if value is None or isinstance(value, str):
        return value if value is None else str(value)     # NumPy strings too
    converted = number(value)
    if converted is None:
        raise TypeError(f"{name} values must be numbers, strings, booleans or None, "
                        f"got {type(value).__name__} {value!r}")
    if isinstance(converted, float) and math.isnan(converted):
        raise ValueError(f"{name} values must not be NaN")
    return converted


def number(value):
    """``value`` (Python or NumPy) as a Python bool, int or float; None when not a number."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def points(grid):
    """Every point of a validated grid, as dicts, in ``itertools.product`` order."""
    names = list(grid)
    return [dict(zip(names, combination)) for combination in itertools.product(*grid.values())]


def check_point_function(fn, grid_points):
    """Require a plain Python function (``def`` or ``lambda``; other callables' code cannot
    be fingerprinted) that accepts every point's parameters as keyword arguments."""
    if not inspect.isfunction(fn):
        raise TypeError(f"fn must be a Python function (def or lambda) taking the grid's parameters "
                        f"as keyword arguments, got {type(fn).__name__} {fn!r}")
    for names in dict.fromkeys(tuple(point) for point in grid_points):
        try:
            inspect.signature(fn).bind(**dict.fromkeys(names))
        except TypeError as exc:
            raise TypeError(f"fn {fn.__qualname__}{inspect.signature(fn)} must accept the grid's parameters "
                            f"{list(names)} as keyword arguments: {exc}") from None


def function_identity(fn):
    """``{"module", "qualname", "code"}`` of a Python function (see the module docstring)."""
    defaults = [_plain_default(v) for v in fn.__defaults__ or ()]
    kwdefaults = {k: _plain_default(v) for k, v in sorted((fn.__kwdefaults__ or {}).items())}
    fingerprint = json.dumps([_code(fn.__code__), defaults, kwdefaults], sort_keys=True)
    return {"module": fn.__module__, "qualname": fn.__qualname__,
            "code": hashlib.sha256(fingerprint.encode()).hexdigest()}


def point_key(point, identity, version):
    """The store key of ``point`` (a dict of plain values) for a function and package version."""
    text = json.dumps({"point": point, "function": identity, "samtheory": version}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _code(code):
    return {"bytecode": code.co_code.hex(), "names": list(code.co_names),
            "varnames": list(code.co_varnames), "freevars": list(code.co_freevars),
            "args": [code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags],
            "consts": [_constant(c) for c in code.co_consts]}


def _constant(value):
    if isinstance(value, types.CodeType):
        return _code(value)
    if isinstance(value, tuple):
        return [_constant(v) for v in value]
    if isinstance(value, frozenset):   # iteration order depends on the hash seed: sort
        return sorted(repr(v) for v in value)
    return repr(value)


def _plain_default(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return [_plain_default(v) for v in value]
    return f"<{type(value).__module__}.{type(value).__qualname__}>"
