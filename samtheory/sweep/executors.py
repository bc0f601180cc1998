"""Where a sweep's points run: in this process, in local worker processes, or on Dask.

Every executor runs ``compute_point`` on each point and yields ``(index, outcome)`` as
points finish; the calling process alone writes the store. A worker sets Numba's
thread count before it runs a point, to the cores of its machine divided by the points
that run there at once (at least 1), so that workers do not oversubscribe the cores.

Shipping the point function: ``"processes"`` starts fresh interpreters (``spawn``),
which import the function by module and qualified name, so it must be defined at the
top level of an importable module (or of a script run as ``python script.py`` whose
sweep sits under ``if __name__ == "__main__":``); a lambda or a function defined inside
another is refused with a ``TypeError``. Dask pickles functions with cloudpickle, which
ships lambdas, local functions and a script's functions by value, so they are accepted;
module functions are imported by reference, so the workers must have the module.
"""
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
import multiprocessing
import numbers
import os
import sys
import time
import traceback
from urllib.parse import urlparse

import numba
import numpy as np

from .. import _validate
from ..results import Trajectories
from .grid import RESERVED, number
from .store import TRAJECTORIES_NAME

ARRAY_KINDS = "biuf"       # NumPy dtype kinds a returned array may have: bool, integer, float


def compute_point(fn, point, threads=None):
    """Run ``fn(**point)`` and return its outcome; called in the worker.

    Parameters
    ----------
    fn : function
    point : dict
    threads : int, optional
        Numba threads for this point (capped at ``NUMBA_NUM_THREADS``); None leaves
        the setting as it is.

    Returns
    -------
    dict
        ``status`` ("ok" or "error"), ``values`` (name -> int, float, bool, str, or a
        list: an array's elements), ``trajectories`` (name -> Trajectories), ``seconds`` (wall time of ``fn``) and
        ``error`` (None, or ``{"type", "message", "traceback"}`` when ``fn`` raised).

    Raises
    ------
    TypeError
        When ``fn`` returns something other than a non-empty mapping of names to
        numbers, strings, 1-d arrays or Trajectories: a bug of the point function, not
        a failed point.
    """
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    start = time.perf_counter()
    try:
        returned = fn(**point)
    except Exception as exc:
        return {"status": "error", "values": {}, "trajectories": {},
                "seconds": time.perf_counter() - start,
                "error": {"type": type(exc).__name__, "message": str(exc),
                          "traceback": "".join(traceback.format_exception(   # from fn's frame on
                              type(exc), exc, exc.__traceback__.tb_next))}}
    seconds = time.perf_counter() - start
    values, trajectories = split_returned(returned, point)
    return {"status": "ok", "values": values, "trajectories": trajectories, "seconds": seconds,
            "error": None}


def split_returned(returned, point):
    """Check what a point function returned; split it into values (numbers, strings, and
    1-d arrays as lists of their elements) and Trajectories."""
    where = f"the point function returned for {point}"
    if not isinstance(returned, Mapping) or not returned:
        raise TypeError(f"{where}: {type(returned).__name__} {returned!r:.200}; it must return a "
                        f"non-empty mapping of names to numbers, strings, 1-d arrays or Trajectories")
    values, trajectories = {}, {}
    for name, value in returned.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{where}: the name {name!r}; names must be non-empty strings")
        if name in point or name in RESERVED:
            raise TypeError(f"{where}: the name {name!r}, which clashes with a grid parameter or "
                            f"a table column (reserved: {list(RESERVED)})")
        if isinstance(value, Trajectories):
            if not TRAJECTORIES_NAME.fullmatch(name):
                raise TypeError(f"{where}: the Trajectories name {name!r}; it names a file, so it "
                                f"must match {TRAJECTORIES_NAME.pattern}")
            trajectories[name] = value
        elif number(value) is not None:
            values[name] = number(value)
        elif isinstance(value, str):
            values[name] = str(value)
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in ARRAY_KINDS:
            values[name] = value.tolist()       # Python bools, ints or floats: exact in JSON
        else:
            raise TypeError(f"{where}: {name!r} = {type(value).__name__} {value!r:.200}; values must "
                            f"be numbers (int, float, bool, NumPy scalars), strings, 1-d NumPy arrays "
                            f"of booleans, integers or floats, or Trajectories")
    return values, trajectories


def available_cores():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def numba_threads(cores, concurrent):
    """Numba threads per point when ``concurrent`` points share ``cores`` cores (at least 1)."""
    return max(1, cores // concurrent)


class InProcess:
    """Run the points one after another in this process (Numba's threads left as they are)."""

    def map(self, fn, points):
        """Yield ``(index, outcome)`` for each point, in order."""
        for index, point in enumerate(points):
            yield index, compute_point(fn, point)


class Processes:
    """Run the points in ``workers`` fresh local processes (``spawn``).

    Used as ``sweep(..., executor=Processes(4))`` it starts its processes for that sweep
    and stops them after it. Opened in a ``with`` block it keeps them across the sweeps
    of the block, which saves each sweep the start of its workers (interpreter, imports)::

        with Processes(2) as pool:
            first = sweep(grid_a, fn_a, store_a, executor=pool)
            second = sweep(grid_b, fn_b, store_b, executor=pool)

    Parameters
    ----------
    workers : int
        Processes at most (for one sweep, no more than its points); each point gets
        ``available_cores() // processes`` Numba threads, at least 1.
    """

    def __init__(self, workers):
        self.workers = _validate.positive_int("workers", workers)
        self._pool = None

    def __enter__(self):
        if self._pool is not None:
            raise RuntimeError("this Processes executor is already open")
        self._pool = _spawn_pool(self.workers)
        return self

    def __exit__(self, *exc_info):
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def map(self, fn, points):
        """Yield ``(index, outcome)`` for each point as it finishes."""
        processes = self.workers if self._pool is not None else min(self.workers, len(points))
        threads = numba_threads(available_cores(), processes)
        pool = self._pool or _spawn_pool(processes)
        futures = {}
        try:
            futures = {pool.submit(compute_point, fn, point, threads): i for i, point in enumerate(points)}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            if pool is self._pool:        # an open pool stays; drop what this sweep left queued
                for future in futures:
                    future.cancel()
            else:
                pool.shutdown(wait=True, cancel_futures=True)


def _spawn_pool(processes):
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


class Dask:
    """Run the points on a Dask distributed cluster.

    Parameters
    ----------
    client : distributed.Client, optional
        A connected client (left open afterwards).
    address : str, optional
        A scheduler address (``"tcp://host:8786"``); a client is opened for the sweep
        and closed after it.
    """

    def __init__(self, client=None, address=None):
        self.client, self.address = client, address

    def map(self, fn, points):
        """Yield ``(index, outcome)`` for each point as it finishes."""
        try:
            import distributed
        except ImportError:
            raise ImportError("a Dask executor needs dask.distributed: pip install 'samtheory[dask]'") from None
        client = self.client or distributed.Client(self.address)
        threads_on_host = Counter()
        for worker, threads in client.nthreads().items():
            threads_on_host[_host(worker)] += threads
        futures = [client.submit(_compute_point_on_dask, fn, point, dict(threads_on_host), pure=False)
                   for point in points]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in distributed.as_completed(futures):
                yield index[future.key], future.result()
        finally:
            client.cancel(futures)
            if self.client is None:
                client.close()


def _compute_point_on_dask(fn, point, threads_on_host):
    """``compute_point`` on a Dask worker: the machine's cores over the Dask threads on it."""
    from distributed import get_worker
    worker = get_worker()
    concurrent = threads_on_host.get(_host(worker.address), worker.state.nthreads)
    return compute_point(fn, point, numba_threads(available_cores(), concurrent))


def _host(address):
    return urlparse(address if "://" in address else f"tcp://{address}").hostname


def resolve(executor, workers, fn):
    """The executor object for ``sweep``'s ``executor`` and ``workers`` arguments.

    Parameters
    ----------
    executor : None, "processes", int, Processes, str or distributed.Client
        None: in this process. "processes" or an int N: local processes (N of them).
        A ``Processes`` object: its processes (kept open by a ``with`` block).
        A string with ":" (``"tcp://host:8786"``): a Dask scheduler address.
        A ``distributed.Client``: that client's cluster.
    workers : int, optional
        Processes for ``executor="processes"`` (default: the available cores).
    fn : function
        The point function; local processes require it to be importable
        (``check_importable``).
    """
    if isinstance(executor, numbers.Integral) and not isinstance(executor, bool):
        executor = _validate.positive_int("executor", executor)
        if workers is not None and workers != executor:
            raise ValueError(f"executor={executor} already sets the number of workers; got workers={workers!r}")
        check_importable(fn)
        return Processes(executor)
    if isinstance(executor, Processes):
        if workers is not None:
            raise ValueError(f"a Processes executor already sets the number of workers; got workers={workers!r}")
        check_importable(fn)
        return executor
    if executor == "processes":
        workers = available_cores() if workers is None else _validate.positive_int("workers", workers)
        check_importable(fn)
        return Processes(workers)
    if workers is not None:
        raise ValueError(f"workers applies only to executor='processes' (or an int); got workers={workers!r} "
                         f"with executor={executor!r}")
    if executor is None:
        return InProcess()
    if isinstance(executor, str) and ":" in executor:
        return Dask(address=executor)
    distributed = sys.modules.get("distributed")   # a Client exists only if Dask is imported
    if distributed is not None and isinstance(executor, distributed.Client):
        return Dask(client=executor)
    raise ValueError(f"executor must be None, 'processes', a number of worker processes, a Processes "
                     f"object, a Dask scheduler address ('tcp://host:port') or a distributed.Client, got {executor!r}")


def check_importable(fn):
    """Require ``fn`` to be importable by module and qualified name (for spawned workers)."""
    module = sys.modules.get(fn.__module__)
    target = module
    for part in fn.__qualname__.split("."):
        target = getattr(target, part, None)
    if target is not fn:
        raise TypeError(f"executor='processes' imports the point function in each worker by its module and "
                        f"name, but {fn.__module__}.{fn.__qualname__} cannot be imported (a lambda or a "
                        f"function defined inside another); define it at the top level of a module, or use "
                        f"executor=None or a Dask client (which ships it by value)")
    if fn.__module__ == "__main__" and not os.path.isfile(getattr(module, "__file__", None) or ""):
        raise TypeError(f"executor='processes' cannot import {fn.__qualname__}: it was defined in an "
                        f"interactive session, python -c or standard input; define it in a module or a "
                        f"script file, or use executor=None or a Dask client (which ships it by value)")
