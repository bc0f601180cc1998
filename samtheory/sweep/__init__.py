"""Parameter sweeps that survive: durable per-point results, resume, executors, progress.

    >>> from samtheory.sweep import sweep
    >>> table = sweep({"b": [1, 2, 4], "seed": [0]}, point, store="runs/demo")  # doctest: +SKIP

Modules: ``grid`` (grids, lists of points, function identity, keys), ``store`` (the store
layout and atomic writes, ``load_table``), ``executors`` (in-process, local processes —
``Processes``, which a ``with`` block keeps open across sweeps —, Dask; Numba threads per
worker) and ``runner`` (``sweep``). See ``docs/sweeps.md``.
"""
from .executors import Processes
from .runner import sweep
from .store import load_table

__all__ = ["sweep", "load_table", "Processes"]
