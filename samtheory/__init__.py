"""samtheory: a theory-verification simulator for Sharpness-Aware Minimization and its variants.

    >>> import samtheory as st
    >>> problem = st.problems.random_least_squares(256, 64, condition=10, seed=0)
    >>> out = st.simulate(problem, st.SAM(lr=0.1, rho=0.05), st.WithReplacement(8),
    ...                   steps=2000, trajectories=1024, seed=1)
    >>> print(out.report())
"""
from . import problems, rules, sampling, schedules
from .engine.simulate import simulate
from .results import Trajectories
from .rules import (SGD, HeavyBall, SAM, USAM, UnifiedSAM, AdaSAM, AMSGrad, Adam, StableSAM, RST,
                    GRST, MSAM, Rule)
from .sampling import (WithReplacement, Importance, TauNice, Independent, Stratified, draw,
                       draw_coins)

__all__ = ["problems", "rules", "sampling", "schedules", "simulate", "Trajectories",
           "SGD", "HeavyBall", "SAM", "USAM", "UnifiedSAM", "AdaSAM", "AMSGrad", "Adam",
           "StableSAM", "RST", "GRST", "MSAM", "Rule",
           "WithReplacement", "Importance", "TauNice", "Independent", "Stratified", "draw",
           "draw_coins"]
