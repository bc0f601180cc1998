"""The durable store of a sweep: one file per point, written atomically.

Layout of a store folder::

    points/<key>.json                 one record per point (the truth)
    trajectories/<key>/<name>.npz     Trajectories a point returned (Trajectories.save)
    table.parquet                     every point of the store as a table (rebuilt)

A record is JSON: ``{"format": 1, "key", "point": {name: value}, "function":
{"module", "qualname", "code"}, "version", "status": "ok" | "error", "values":
{name: number, string, or list (the elements of a returned 1-d array)}, "trajectories":
{name: "trajectories/<key>/<name>.npz"}, "seconds", "error": null | {"type", "message",
"traceback"}, "finished": ISO time (UTC)}``. Records written before strings and arrays
were accepted hold numbers only and read the same.

Every file is written to a temporary name beside its target (``.tmp~<host>~<pid>~…``),
flushed to disk (``fsync``), then renamed over the target and the folder synced, so a
reader (or a process killed at any moment) sees either the whole old file or the whole
new one. A point's Trajectories are written before its record, so a record never
refers to a missing file; a point without a record is not done. Temporaries left by a
killed process (of this host, no longer running) are removed when a sweep opens the
store, as are the temporaries a ``Trajectories.save`` into one of ours derives from its
name. ``table.parquet`` is derived: ``load_table`` rebuilds it from the records.
"""
from datetime import datetime, timezone
import json
import math
import os
from pathlib import Path
import re
import secrets
import socket
import tempfile

import numpy as np

from .grid import RESERVED

FORMAT = 1
TEMPORARY = ".tmp~"
HOST = socket.gethostname()
TRAJECTORIES_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class Store:
    """A sweep store folder (see the module docstring for the layout).

    Parameters
    ----------
    path : str or os.PathLike
        The folder; it is created on ``prepare``. It must not be an existing file.
    """

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"store must be a folder path (str or os.PathLike), got {type(path).__name__}")
        self.path = Path(path).expanduser().absolute()
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"store must be a folder, but {self.path} is a file")
        self.points = self.path / "points"

    def prepare(self):
        """Create the folders, check that they are writable and remove stale temporaries."""
        try:
            self.points.mkdir(parents=True, exist_ok=True)
            (self.path / "trajectories").mkdir(exist_ok=True)
            with tempfile.TemporaryFile(dir=self.points):
                pass
        except OSError as exc:
            raise ValueError(f"store {self.path} is not a writable folder: {exc}") from None
        # ours, and those a save writing to ours makes from its name (".<ours>.<hex>.tmp")
        for temporary in self.path.rglob(f"*{TEMPORARY}*"):
            _, host, pid, _ = temporary.name.split("~", 3)
            if host == HOST and not _running(int(pid)):
                temporary.unlink(missing_ok=True)

    def read(self, key):
        """The record of ``key``, or None when the point is not done."""
        path = self.points / f"{key}.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return _parse(path, text)

    def records(self):
        """Every record in the store, oldest first."""
        records = [_parse(path, path.read_text()) for path in self.points.glob("*.json")
                   if not path.name.startswith(TEMPORARY)]     # pathlib's * matches dot files
        return sorted(records, key=lambda r: (r["finished"], r["key"]))

    def write(self, key, point, identity, version, outcome):
        """Store one computed point durably and return its record.

        Parameters
        ----------
        key : str
        point : dict
        identity : dict
            ``grid.function_identity`` of the point function.
        version : str
        outcome : dict
            What ``executors.compute_point`` returned: ``status``, ``values``,
            ``trajectories`` (name -> Trajectories), ``seconds``, ``error``.
        """
        saved = {}
        for name, trajectories in outcome["trajectories"].items():
            relative = f"trajectories/{key}/{name}.npz"
            target = self.path / relative
            target.parent.mkdir(exist_ok=True)
            atomic_write(target, trajectories.save)
            saved[name] = relative
        record = {"format": FORMAT, "key": key, "point": point, "function": identity,
                  "version": version, "status": outcome["status"], "values": outcome["values"],
                  "trajectories": saved, "seconds": outcome["seconds"], "error": outcome["error"],
                  "finished": datetime.now(timezone.utc).isoformat()}
        text = json.dumps(record, indent=1)
        atomic_write(self.points / f"{key}.json", lambda path: Path(path).write_text(text))
        return record

    def frame(self, records):
        """A tidy DataFrame of ``records``, one row each, in their order.

        Columns: the grid parameters, the returned values (an array as a NumPy array,
        a Trajectories value as the absolute path of its ``.npz``), then ``seconds``, ``version``, ``status``,
        ``error`` ("Type: message", None when ok), ``traceback``, ``key`` and
        ``function`` (module.qualname). Values a row lacks (every value of a failed
        point) are NaN, or None in a column of objects (such as booleans).
        """
        import pandas as pd     # here, not at the top: `import samtheory` stays fast

        rows, grid_names, value_names = [], {}, {}
        for record in records:
            grid_names.update(dict.fromkeys(record["point"]))
            value_names.update(dict.fromkeys(record["values"]))
            value_names.update(dict.fromkeys(record["trajectories"]))
            error = record["error"]
            rows.append({**record["point"], **{name: _array(value) for name, value in record["values"].items()},
                         **{name: str(self.path / relative) for name, relative in record["trajectories"].items()},
                         "seconds": record["seconds"], "version": record["version"],
                         "status": record["status"],
                         "error": None if error is None else f"{error['type']}: {error['message']}",
                         "traceback": None if error is None else error["traceback"],
                         "key": record["key"],
                         "function": f"{record['function']['module']}.{record['function']['qualname']}"})
        # a name may be one point's parameter and another's value (points of different tasks)
        frame = pd.DataFrame(rows, columns=list(dict.fromkeys([*grid_names, *value_names, *RESERVED])))
        for column in frame.columns[frame.dtypes == object]:   # e.g. booleans with failed points:
            frame[column] = frame[column].where(frame[column].notna(), None)   # None, as Parquet reads
        return frame

    def values(self, record):
        """What the point of ``record`` returned: name -> number, string, NumPy array (a
        returned array: bool, int64 or float64) or ``Trajectories`` (loaded)."""
        from ..results import Trajectories
        return {**{name: _array(value) for name, value in record["values"].items()},
                **{name: Trajectories.load(self.path / relative)
                   for name, relative in record["trajectories"].items()}}

    def write_table(self, frame):
        """Write ``frame`` atomically to ``table.parquet`` (a column whose values are of
        several types, e.g. numbers and strings from different sweeps, is written as text)."""
        frame = frame.copy()
        for column in frame.columns[frame.dtypes == object]:
            kinds = {type(v) for v in frame[column] if not _missing(v)}
            if len(kinds) > 1:
                frame[column] = [None if _missing(v) else str(v) for v in frame[column]]
        atomic_write(self.path / "table.parquet", lambda path: frame.to_parquet(path, index=False))


def load_table(store):
    """Rebuild the table of every point in a store from its point files.

    Also rewrites ``<store>/table.parquet``.

    Parameters
    ----------
    store : str or os.PathLike
        A folder written by ``sweep``.

    Returns
    -------
    pandas.DataFrame
        One row per point (every function and grid the store holds), oldest first;
        columns as in ``Store.frame``.
    """
    opened = Store(store)
    if not opened.points.is_dir():
        raise ValueError(f"store {opened.path} holds no sweep (no points/ folder)")
    frame = opened.frame(opened.records())
    opened.write_table(frame)
    return frame


def atomic_write(target, write):
    """Call ``write(temporary path)``, fsync the file, rename it to ``target``, sync the folder
    (``target`` is a ``pathlib.Path``): a process killed at any moment leaves the old file or
    the new one, and at worst its temporary ``.tmp~<host>~<pid>~…`` beside it (``Store.prepare``
    removes those of a store)."""
    temporary = target.with_name(f"{TEMPORARY}{HOST}~{os.getpid()}~{secrets.token_hex(4)}~{target.name}")
    try:
        write(temporary)
        descriptor = os.open(temporary, os.O_RDWR)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):      # POSIX: make the rename itself durable
        descriptor = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _parse(path, text):
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a sweep point record ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path}: not a sweep point record of format {FORMAT}")
    return record


def _running(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)          # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:      # it exists, under another user
        return True
    return True


def _array(value):
    """A stored value as returned: a list (a returned array's elements) as a NumPy array."""
    return np.asarray(value) if isinstance(value, list) else value


def _missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))
