"""samtheory: a theory-verification simulator for Sharpness-Aware Minimization and its variants.

    >>> import samtheory as st
    >>> problem = st.problems.random_least_squares(256, 64, condition=10, seed=0)
    >>> out = st.simulate(problem, st.SAM(lr=0.1, rho=0.05), st.WithReplacement(8),
    ...                   steps=2000, trajectories=1024, seed=1)
    >>> print(out.report())

``samtheory.fit`` and ``samtheory.theory`` (SymPy) are imported on first use.
"""
import importlib

from . import problems, rules, sampling, schedules
from .engine.simulate import _package_version, simulate
from .results import Trajectories, TrajectoriesFileError
from .rules import (SGD, HeavyBall, SAM, USAM, UnifiedSAM, AdaSAM, AMSGrad, Adam, StableSAM, RST,
                    GRST, MSAM, Rule)
from .sampling import (WithReplacement, Importance, TauNice, Independent, Stratified, draw,
                       draw_coins)
from .sweep import sweep, load_table       # the function shadows the package name: st.sweep(...)

__version__ = _package_version()
LAZY_MODULES = ("fit", "theory")

__all__ = ["problems", "rules", "sampling", "schedules", "fit", "theory", "simulate", "Trajectories",
           "TrajectoriesFileError", "SGD", "HeavyBall", "SAM", "USAM", "UnifiedSAM", "AdaSAM",
           "AMSGrad", "Adam", "StableSAM", "RST", "GRST", "MSAM", "Rule",
           "WithReplacement", "Importance", "TauNice", "Independent", "Stratified", "draw",
           "draw_coins", "sweep", "load_table"]


def __getattr__(name):
    """Import ``samtheory.fit`` and ``samtheory.theory`` when first used (PEP 562)."""
    if name in LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
