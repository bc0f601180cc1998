"""One compiled kernel per problem kind, cached on disk.

Every kind runs a module generated from the kernel's source (``engine.kernel``). The
generalised linear kind (every ``problems.FiniteSum``) is that source as written: its
binding line imports the operations of ``engine.glm``. A ``problems.Custom`` kind (a set of
per-sample functions) is a module made of

1. a header binding ``sample_value``, ``sample_gradient``, ``sample_hvp``,
   ``sample_balance`` and ``sample_objective`` to the kind's functions
   (``problems.custom.registered``), and ``HAS_OBJECTIVE`` to whether it has its own
   full objective;
2. the source of ``engine.per_sample`` (the four problem operations built on them);
3. the source of ``engine.kernel`` with its binding line to ``engine.glm`` removed,

written to ``cache_directory()`` under a name made of the SHA-256 of its text and of the
sources it calls into (``engine.glm``, ``engine.draw``, ``engine.args``, ``_core.rng``,
``_core.codes`` and this module),
and compiled there by Numba with ``cache=True``. A later process that builds the same
kind (same function sources) finds the file and Numba's cache beside it, and starts
without compiling. Numba detects changes only in a function's own file; the name
covering the dependencies' sources means an edited engine gets a fresh module.

The kind's key (``Custom.kind``) is built from the names of the user's functions and the
whole source files that define them, so an edit of a helper in those files gives a new
kind; a helper imported from another file is not covered (after editing only that,
clear the cache directory). Functions whose source cannot be read (typed at an
interactive prompt) are compiled without a disk cache.
"""
import hashlib
import importlib.util
import inspect
import os
from pathlib import Path
import sys
import tempfile

import numpy as np
from numba import njit

from .._core import codes as _codes, rng as _rng
from ..problems.custom import registered
from . import args as _args, draw as _draw, glm as _glm, kernel, per_sample

BINDING = ("from samtheory.engine.glm import batch_gradient, objective, hessian_vector, balance"
           "  # KIND BINDING\n")
CACHE_ENV = "SAMTHEORY_CACHE_DIR"
GLM_KIND = "glm"   # the key of the generalised linear kind (Custom kinds: ``Custom.kind``)
_LOADED = {}   # kind key -> the compiled module's ``run``


@njit(cache=True)
def missing_hvp(x, i, data, v, out):
    """Stands in for a kind without ``hvp`` (``simulate`` refuses ``track_sharpness`` then)."""
    for j in range(out.shape[0]):
        out[j] = np.nan


@njit(cache=True)
def missing_balance(x, data):
    """Stands in for a kind without ``balance``: the ``balance`` metric is NaN."""
    return np.nan


@njit(cache=True)
def missing_objective(x, data, grad):
    """Stands in for a kind without ``objective`` (never called: ``HAS_OBJECTIVE`` is False)."""
    return np.nan


def kind_functions(key):
    """(value, gradient, hvp, balance, objective) of the kind ``key``, placeholders for absent ones,
    each recompiled with ``inline="always"`` so that Numba inlines it into the kernel's
    loops (a call per sample otherwise costs as much as a small gradient)."""
    value, gradient, hvp, balance, objective = registered(key)
    inline = lambda function: njit(inline="always")(function.py_func)
    return (inline(value), inline(gradient), inline(hvp or missing_hvp),
            inline(balance or missing_balance), inline(objective or missing_objective))


def cache_directory():
    """Where generated kernels live: ``$SAMTHEORY_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/samtheory/kernels`` (default ``~/.cache/samtheory/kernels``); when
    that cannot be created or written, a directory under the system's temporary directory."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        candidates = [Path(configured)]
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        candidates = [Path(base) / "samtheory" / "kernels"]
    candidates.append(Path(tempfile.gettempdir()) / f"samtheory-kernels-{os.getuid()}")
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise RuntimeError(f"no writable directory for compiled kernels (tried {candidates}); set "
                       f"{CACHE_ENV} to one")


def _dependencies():
    """The sources the generated module calls into, this one (which binds the functions) included."""
    return "".join(inspect.getsource(module)
                   for module in (_glm, _draw, _args, _rng, _codes, sys.modules[__name__]))


def kind_of(problem):
    """The key of ``problem``'s kind: ``GLM_KIND`` or its ``Custom.kind``."""
    return getattr(problem, "kind", GLM_KIND)


def kernel_source(problem):
    """The text of the generated module for ``problem``'s kind (module docstring)."""
    kernel_text = inspect.getsource(kernel)
    if BINDING not in kernel_text:   # pragma: no cover - guards an edit of engine.kernel
        raise RuntimeError("engine.kernel lost its KIND BINDING line; engine.kinds cannot specialise it")
    if kind_of(problem) == GLM_KIND:
        return ('"""Kernel for the generalised linear problems (engine.glm), generated by '
                'samtheory.engine.kinds; do not edit."""\n' + kernel_text)
    header = (f'"""Kernel for the problem kind {problem.kind} ({problem.name}), generated by '
              'samtheory.engine.kinds; do not edit."""\n'
              "from samtheory.engine.kinds import kind_functions as _kind_functions\n"
              "sample_value, sample_gradient, sample_hvp, sample_balance, sample_objective = (\n"
              f'    _kind_functions("{problem.kind}"))\n'
              f"HAS_OBJECTIVE = {problem.objective_function is not None}\n")
    text = header + inspect.getsource(per_sample) + kernel_text.replace(BINDING, "")
    if not problem.cacheable:
        text = text.replace("cache=True", "cache=False")
    return text


def kernel_for(problem):
    """The compiled ``run`` for ``problem``'s kind (module docstring)."""
    kind = kind_of(problem)
    if kind not in _LOADED:
        text = kernel_source(problem)
        digest = hashlib.sha256((text + _dependencies()).encode()).hexdigest()[:24]
        name = f"samtheory_kernel_{digest}"
        cacheable = getattr(problem, "cacheable", True)
        directory = cache_directory() if cacheable else Path(tempfile.mkdtemp(prefix="samtheory-"))
        path = directory / f"{name}.py"
        if not path.exists() or path.read_text() != text:
            partial = directory / f".{name}.{os.getpid()}.tmp"
            partial.write_text(text)
            os.replace(partial, path)   # atomic: a concurrent process sees the old or the new file
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _LOADED[kind] = module.run
    return _LOADED[kind]
