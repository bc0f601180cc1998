"""The ``Trajectories`` object: recorded metrics of a batch of runs, summaries, save/load.

File format (``.npz``, written by ``Trajectories.save``): arrays ``steps``
(records,), ``metric/<name>`` (trajectories, records), ``final_x``
(trajectories, d), ``diverged_at`` (trajectories,; −1 = never),
``schedule/<lr|rho|lam|perturb_prob>`` (steps,), ``problem/<A|y|signs|reg_center>``
(a ``FiniteSum``'s data) or ``problem/data/<k>`` (a ``Custom`` problem's data tuple),
``problem/x0`` (trajectories, d) (the starting points used)
and ``config``, a 0-d string holding JSON:
{"format": 1, "samtheory_version", "problem" (class, name, constants, reg_strength),
"rule" (every field of ``rules.Rule``), "sampler", "seed", "steps",
"trajectories", "record_every", "track_iterates", "backend", "x0"}.
``Trajectories.load`` rebuilds the object from it, after checking the format version,
every field above and every array's shape and type; anything else raises
``TrajectoriesFileError`` naming the file and what is wrong.
"""
import contextlib
import json
import os
import secrets
import stat
import zipfile
import zlib

import numpy as np

FORMAT_VERSION = 1
# Fields of ``config`` that ``load`` requires, with their JSON types.
CONFIG_FIELDS = {"samtheory_version": str, "problem": dict, "rule": dict, "sampler": dict,
                 "seed": int, "steps": int, "trajectories": int, "record_every": int,
                 "track_iterates": bool, "backend": str, "x0": str}
# Nested fields the reports read: config[group][field].
CONFIG_NAMES = (("problem", "name"), ("rule", "name"), ("sampler", "sampler"))
SCHEDULES = ("lr", "rho", "lam", "perturb_prob")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a zip archive (.npz) with members, or empty


class TrajectoriesFileError(ValueError):
    """A file ``Trajectories.load`` cannot read: corrupt, not a trajectories file, or one
    whose fields or array shapes disagree; the message names the file and the fault."""


class Trajectories:
    """Recorded metrics of many independent runs.

    Attributes
    ----------
    steps : (records,) int array
        The iteration counts t at which metrics were recorded (x_t after t steps).
    metrics : dict of name -> (trajectories, records) array
        ``loss_gap`` f(x_t) − (f* or f_inf or 0), ``grad_norm_sq`` ‖∇f(x_t)‖²,
        ``dist_sq`` ‖x_t − x*‖² (where x* is known; for rank-deficient least squares
        x* is the minimum-norm minimiser A⁺y, not the nearest one, so this plateaus at
        the null-space part of x_0 − x*), ``grad_evals`` (int; the expected count, a float,
        in an exact RST run) stochastic gradient evaluations spent before x_t, and with ``track_iterates`` the
        running ``avg_grad_norm_sq`` (1/t) Σ_{s<t} ‖∇f(x_s)‖² and
        ``min_grad_norm_sq`` min_{s<t} ‖∇f(x_s)‖² (at t = 0: ‖∇f(x_0)‖²); with
        ``track_sharpness`` the ``sharpness`` λ_max(∇²f(x_t)), ``hessian_trace``
        tr ∇²f(x_t) (``engine.kernel.sharpness`` states how each is computed) and, for a
        problem that conserves one under gradient flow, its ``balance`` (e.g. ‖u‖² − ‖v‖²
        of a diagonal network). Records after a divergence are NaN.
    final_x : (trajectories, d) array
    diverged_at : (trajectories,) int array
        The step at which the iterate or a metric became inf/NaN, −1 if never.
    schedules : dict of name -> (steps,) array
    config : dict
    problem_data : dict of name -> array
        The problem's data arrays and the starting points (see the file format).
    """

    def __init__(self, steps, metrics, final_x, diverged_at, schedules, config, problem_data=None):
        self.problem_data = dict(problem_data or {})
        self.steps = np.asarray(steps)
        self.metrics = dict(metrics)
        self.final_x = np.asarray(final_x)
        self.diverged_at = np.asarray(diverged_at)
        self.schedules = dict(schedules)
        self.config = dict(config)

    @property
    def diverged(self):
        """(trajectories,) bool: trajectories that hit inf/NaN (frozen from then on)."""
        return self.diverged_at >= 0

    @property
    def trajectories(self):
        return self.final_x.shape[0]

    def summary(self, metric="loss_gap", quantiles=(0.05, 0.5, 0.95)):
        """Per recorded step, over trajectories that did not diverge: mean, standard
        error of the mean, the given quantiles, and the count used.

        Diverged trajectories are excluded and counted in ``n_diverged``, never
        averaged in; all-diverged steps give NaN.
        """
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {sorted(self.metrics)}, got {metric!r}")
        values = self.metrics[metric][~self.diverged]
        count = values.shape[0]
        out = {"steps": self.steps, "n_valid": count, "n_diverged": int(self.diverged.sum())}
        if count == 0:
            nan = np.full(self.steps.shape, np.nan)
            out.update(mean=nan, stderr=nan, **{f"q{q:g}": nan for q in quantiles})
            return out
        out["mean"] = values.mean(axis=0)
        out["stderr"] = values.std(axis=0, ddof=1) / np.sqrt(count) if count > 1 else np.full(
            self.steps.shape, np.nan)
        for q, row in zip(quantiles, np.quantile(values, quantiles, axis=0)):
            out[f"q{q:g}"] = row
        return out

    def report(self, metric="loss_gap"):
        """A short text summary: first and last recorded values (over the trajectories
        that did not diverge) and divergences."""
        s = self.summary(metric)
        cfg = self.config
        lines = [f"{cfg['rule']['name']} on {cfg['problem']['name']} with {cfg['sampler']['sampler']}: "
                 f"{self.trajectories} trajectories x {cfg['steps']} steps (seed {cfg['seed']}, "
                 f"backend {cfg['backend']})",
                 f"  diverged: {s['n_diverged']} of {self.trajectories}"]
        if s["n_diverged"]:
            at = self.diverged_at[self.diverged]
            lines[-1] += f" (at steps {at.min()} to {at.max()})"
            if s["n_valid"] == 0:
                return "\n".join(lines + [f"  every trajectory diverged: no {metric} statistics"])
            lines.append(f"  statistics over the {s['n_valid']} trajectories that did not diverge")
        for k in (0, -1):
            lines.append(f"  {metric} at t={self.steps[k]}: mean {s['mean'][k]:.6g} ± {s['stderr'][k]:.2g} "
                         f"(median {s['q0.5'][k]:.6g})")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Trajectories(trajectories={self.trajectories}, records={self.steps.size}, "
                f"metrics={sorted(self.metrics)}, diverged={int(self.diverged.sum())})")

    # -- persistence -----------------------------------------------------
    def save(self, path):
        """Write the documented ``.npz`` format (see the module docstring) atomically.

        Like ``numpy.savez``, a ``.npz`` suffix is added when missing. The archive is
        written to a hidden temporary file in the same folder, flushed to disk
        (``os.fsync``) and renamed over ``path``, so an interrupted or killed save
        leaves any previous file at ``path`` intact (a killed one may leave its
        ``.<name>.*.tmp`` file behind).

        Returns
        -------
        str
            The path written.
        """
        arrays = {"steps": self.steps, "final_x": self.final_x, "diverged_at": self.diverged_at,
                  "config": np.array(json.dumps({"format": FORMAT_VERSION, **self.config}))}
        arrays.update({f"metric/{k}": v for k, v in self.metrics.items()})
        arrays.update({f"schedule/{k}": v for k, v in self.schedules.items()})
        arrays.update({f"problem/{k}": v for k, v in self.problem_data.items()})
        path = os.fspath(path)
        path = path if path.endswith(".npz") else path + ".npz"
        folder, name = os.path.split(os.path.abspath(path))
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        # a new file gets 0o666 less the umask, as numpy.savez would give it
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez_compressed(stream, **arrays)
                stream.flush()
                os.fsync(stream.fileno())
            with contextlib.suppress(FileNotFoundError):   # overwriting keeps the file's mode
                os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):   # make the rename itself durable where possible
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        return path

    @classmethod
    def load(cls, path):
        """Read a file written by ``save``.

        ``path`` is read as given when it exists; otherwise, when it does not end in
        ``.npz``, ``path + ".npz"`` (the name ``save`` gives it).

        Raises
        ------
        FileNotFoundError
            When neither exists.
        TrajectoriesFileError
            (a ``ValueError``) when the file is not a readable ``.npz`` archive, or not
            one of this format version, or a field of its configuration or an array is
            missing, unexpected or of the wrong shape or type.
        """
        path = os.fspath(path)
        if not os.path.exists(path) and not path.endswith(".npz") and os.path.exists(path + ".npz"):
            path += ".npz"
        if not os.path.exists(path):
            also = "" if path.endswith(".npz") else f" (nor {path + '.npz'!r})"
            raise FileNotFoundError(f"no trajectories file {path!r}{also}")
        try:
            with open(path, "rb") as stream:
                magic = stream.read(4)
            if magic not in ZIP_MAGIC:
                raise TrajectoriesFileError(f"{path}: not a .npz archive (a trajectories file "
                                            "is a zip archive written by Trajectories.save)")
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except TrajectoriesFileError:
            raise
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            raise TrajectoriesFileError(f"{path}: unreadable archive ({type(exc).__name__}: "
                                        f"{exc})") from None
        return cls(*_checked_arrays(path, arrays))


def _checked_arrays(path, arrays):
    """The arguments of ``Trajectories`` from a loaded archive, every field checked."""
    def fail(what):
        raise TrajectoriesFileError(f"{path}: {what}")

    def take(key, ndim, kind, shape=None):
        if key not in arrays:
            fail(f"array {key!r} is missing")
        value = arrays.pop(key)
        if value.ndim != ndim or (shape is not None and value.shape != shape):
            fail(f"array {key!r} has shape {value.shape}, expected "
                 f"{shape if shape is not None else f'{ndim} dimensions'}")
        if value.dtype.kind not in kind:
            fail(f"array {key!r} has dtype {value.dtype}, expected "
                 f"{'integers' if kind == 'iu' else 'floats'}")
        return value

    config = arrays.pop("config", None)
    if config is None or config.ndim != 0 or config.dtype.kind != "U":
        fail("no configuration (a 0-d string array 'config'): not a samtheory trajectories file")
    try:
        config = json.loads(str(config))
    except json.JSONDecodeError as exc:
        fail(f"the configuration is not valid JSON ({exc})")
    if not isinstance(config, dict):
        fail("the configuration is not a JSON object")
    version = config.pop("format", None)
    if version != FORMAT_VERSION:
        fail(f"format {version!r}, but this version of samtheory reads trajectories files of "
             f"format {FORMAT_VERSION}")
    for field, kind in CONFIG_FIELDS.items():
        if field not in config:
            fail(f"configuration field {field!r} is missing")
        value = config[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            fail(f"configuration field {field!r} must be a JSON {kind.__name__}, got {value!r}")
    for field in ("steps", "trajectories", "record_every"):
        if config[field] < 1:
            fail(f"configuration field {field!r} must be >= 1, got {config[field]}")
    for group, field in CONFIG_NAMES:
        if field not in config[group]:
            fail(f"configuration field {group}.{field} is missing")
    from .engine.simulate import record_steps
    steps, trajectories = config["steps"], config["trajectories"]
    expected = record_steps(steps, config["record_every"])
    recorded = take("steps", 1, "iu")
    if not np.array_equal(recorded, expected):
        fail(f"array 'steps' is not the record steps 0, {config['record_every']}, ... {steps} "
             "of the configuration")
    final_x = take("final_x", 2, "f")
    if final_x.shape[0] != trajectories or final_x.shape[1] < 1:
        fail(f"array 'final_x' has shape {final_x.shape}, expected ({trajectories}, d >= 1)")
    d = final_x.shape[1]
    diverged_at = take("diverged_at", 1, "iu", (trajectories,))
    if diverged_at.size and not (-1 <= diverged_at.min() and diverged_at.max() <= steps):
        fail(f"array 'diverged_at' must lie in [-1, {steps}]")
    shape = (trajectories, expected.size)
    names = ["loss_gap", "grad_norm_sq", "grad_evals", "dist_sq"]
    if config["track_iterates"]:
        names += ["avg_grad_norm_sq", "min_grad_norm_sq"]
    sharpness = config.get("track_sharpness", False)
    if not isinstance(sharpness, bool):
        fail(f"configuration field 'track_sharpness' must be a JSON bool, got {sharpness!r}")
    if sharpness:
        names += ["sharpness", "hessian_trace", "balance"]
    optional = ("dist_sq", "balance")
    # grad_evals counts evaluations (integers); the exact backend stores its expectation,
    # a float where a random coin makes the count random (RST)
    counts = "iuf" if config.get("exact") is True else "iu"
    metrics = {name: take(f"metric/{name}", 2, counts if name == "grad_evals" else "f", shape)
               for name in names if name not in optional or f"metric/{name}" in arrays}
    schedules = {name: take(f"schedule/{name}", 1, "f", (steps,)) for name in SCHEDULES}
    problem = {}
    if any(key.startswith("problem/data/") for key in arrays):   # a Custom problem's data tuple
        count = sum(key.startswith("problem/data/") for key in arrays)
        for k in range(count):
            if f"problem/data/{k}" not in arrays:
                fail(f"array 'problem/data/{k}' is missing (the data tuple has {count} arrays)")
            problem[f"data/{k}"] = arrays.pop(f"problem/data/{k}")
        problem["x0"] = take("problem/x0", 2, "f", (trajectories, d))
    elif any(key.startswith("problem/") for key in arrays):
        A = take("problem/A", 2, "f")
        if A.shape[1] != d:
            fail(f"array 'problem/A' has shape {A.shape}, expected (n, {d})")
        n = A.shape[0]
        problem = {"A": A, "y": take("problem/y", 1, "f", (n,)),
                   "signs": take("problem/signs", 1, "f", (n,)),
                   "reg_center": take("problem/reg_center", 1, "f", (d,)),
                   "x0": take("problem/x0", 2, "f", (trajectories, d))}
    if arrays:
        fail(f"unexpected arrays {sorted(arrays)}")
    return recorded, metrics, final_x, diverged_at, schedules, config, problem
