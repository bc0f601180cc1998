"""``sweep``: run a function over a grid, durably, resuming where a previous run stopped."""
from contextlib import closing
import sys

from tqdm import tqdm

from ..engine.simulate import _package_version
from . import executors
from .grid import check_point_function, function_identity, grid_points, point_key
from .store import Store


def sweep(grid, fn, store, executor=None, workers=None, retry_failed=False, progress=None):
    """Evaluate ``fn`` at every point of ``grid``, storing each result as it finishes.

    Each point's result is written atomically to ``store`` under a key made of the
    point, the function's identity (module, qualified name and a fingerprint of its
    bytecode) and the samtheory version (``samtheory.sweep.grid``). Running the same
    sweep again computes only the points that are missing, also after the process was
    killed at any moment; a point whose function raised is recorded with its error and
    computed again only with ``retry_failed=True``.

    Parameters
    ----------
    grid : mapping of str -> list, or list of mappings
        Parameter names to lists of distinct values (numbers, strings, booleans or
        None); the points are every combination, the first name varying slowest. Or
        a list of distinct points, each a mapping of parameter names to single values
        (a grid that is not a product; points may name different parameters).
    fn : function
        Called as ``fn(**point)``; returns a non-empty mapping of names to numbers
        (int, float, bool, NumPy scalars), strings, 1-d NumPy arrays of booleans,
        integers or floats (stored in the record; read back as bool, int64 or float64
        arrays) or ``samtheory.Trajectories`` (saved beside the point with
        ``Trajectories.save``). An exception it raises marks the point
        as failed; a return of another kind raises ``TypeError`` and stops the sweep.
        For ``executor="processes"`` it must be importable: defined at the top level
        of a module (lambdas and local functions are refused); a Dask executor also
        ships lambdas and local functions (cloudpickle).
    store : str or os.PathLike
        The store folder (created if missing); see ``samtheory.sweep.store``.
    executor : None, "processes", int, Processes, str or distributed.Client, optional
        None (default): one point after another in this process. "processes" or an
        int N: N local worker processes (``workers``, default one per available
        core), started for this sweep. An open ``Processes(N)`` (a ``with`` block):
        its worker processes, kept across sweeps. A Dask scheduler address (``"tcp://host:8786"``) or a
        ``distributed.Client``: that cluster. Workers set Numba's threads to their
        machine's cores divided by the points running there at once (at least 1).
        The numbers do not depend on the executor.
    workers : int, optional
        Worker processes for ``executor="processes"``.
    retry_failed : bool, optional
        Compute again the points recorded with status "error".
    progress : bool or function, optional
        A progress bar over the points, with an ETA, on stderr: None (default) shows
        it only when stderr is a terminal; True always; False never. A function is
        called with no argument once per point instead (no bar): at the start for
        each point already stored, then as each computed point is stored.

    Returns
    -------
    pandas.DataFrame
        One row per grid point, in grid order: the grid parameters, the returned
        values (a Trajectories value as the path of its ``.npz``), ``seconds`` (time
        spent in ``fn``), ``version`` (samtheory), ``status`` ("ok" or "error"),
        ``error`` ("Type: message"), ``traceback``, ``key`` and ``function``.
        ``<store>/table.parquet`` is rewritten with every point the store holds.

    Examples
    --------
    >>> table = sweep({"b": [1, 2], "seed": [0]}, point, store="runs/demo")  # doctest: +SKIP
    """
    listed = grid_points(grid)
    check_point_function(fn, listed)
    identity = function_identity(fn)
    runner = executors.resolve(executor, workers, fn)
    if not isinstance(retry_failed, bool):
        raise TypeError(f"retry_failed must be True or False, got {retry_failed!r}")
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise TypeError(f"progress must be None, True, False or a function, got {progress!r}")
    opened = Store(store)
    opened.prepare()
    version = _package_version()
    keys = [point_key(point, identity, version) for point in listed]
    records = {key: opened.read(key) for key in keys}
    todo = [i for i, key in enumerate(keys)
            if records[key] is None or (retry_failed and records[key]["status"] == "error")]
    tick = progress if callable(progress) else lambda: None
    bar = tqdm(total=len(keys), initial=len(keys) - len(todo), desc="sweep", unit="point", file=sys.stderr,
               disable=callable(progress) or (None if progress is None else not progress))
    with bar:
        for _ in range(len(keys) - len(todo)):
            tick()
        if todo:        # nothing to start (no processes, no Dask connection) when all are stored
            with closing(runner.map(fn, [listed[i] for i in todo])) as finished:
                for index, outcome in finished:
                    i = todo[index]
                    records[keys[i]] = opened.write(keys[i], listed[i], identity, version, outcome)
                    bar.update()
                    tick()
    opened.write_table(opened.frame(opened.records()))
    return opened.frame([records[key] for key in keys])
