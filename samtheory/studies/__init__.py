"""The convergence studies behind ``samtheory verify``: one module per claim of the seed papers.

Each module (``STUDIES`` below, in the order of the report) exposes ``NAME``, ``TITLE`` and
``run(size, outdir, seed=0, progress=None) -> base.StudyResult``; ``experiments/`` holds a
script per study that runs it alone.
"""
from importlib import import_module

from .base import Claim, StudyResult, SIZES

STUDIES = ("adasam", "unified_sam", "stable_sam", "rst", "msam", "edge_of_stability", "sharpness")


def load(name):
    """The study module called ``name`` (one of ``STUDIES``)."""
    if name not in STUDIES:
        raise ValueError(f"study must be one of {list(STUDIES)}, got {name!r}")
    return import_module(f".{name}", __name__)


__all__ = ["STUDIES", "load", "Claim", "StudyResult", "SIZES"]
