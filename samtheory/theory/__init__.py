"""Theorems as SymPy objects, the sampling constants they use, and checks against simulations.

    >>> from samtheory import theory
    >>> for theorem in theory.catalogue():
    ...     print(theory.check(theorem, **theorem.example(), trajectories=200))

``docs/theorems.md`` lists every theorem with its statement, source and measured tightness.
"""
from .constants import (SamplingConstants, sampling_constants, component_lower_bounds,
                        components_convex, enumerate_sampling, exact_second_moment, exact_moments,
                        check_inequalities)
from .core import (Theorem, ConditionError, CheckResult, VERDICTS, check, values, batch_smoothness,
                   gradient_bounds, tuned)
from .quantities import Quantity, FinalMetric, AverageGradNormSq, Measurement
from .requirements import ANY, Requirement, rule_is, sampler_is, full_batch
from .symbols import SYMBOLS
from . import core, symbols as symbols_module   # the function `symbols` below shadows the module name
from .sgd import sgd_pl, sgd_nonconvex
from .unified_sam import unified_sam_pl, unified_sam_pl_decreasing, unified_sam_nonconvex
from .adasam import adasam_rate, adasam_rate_published
from .rst import rst_bound, rst_bound_published
from .stationary import Stationary, stationary
from .stability import (gd_threshold, usam_threshold, sam_threshold, stable_sam_threshold, sam_cycle,
                        sam_edge, msam_cycle, steps_needed)

_FACTORIES = (sgd_pl, sgd_nonconvex, unified_sam_pl, unified_sam_pl_decreasing, unified_sam_nonconvex,
              adasam_rate, adasam_rate_published, rst_bound, rst_bound_published, gd_threshold,
              usam_threshold, sam_threshold, stable_sam_threshold, sam_cycle, sam_edge, msam_cycle)


def catalogue():
    """Every built-in theorem, in the order of ``docs/theorems.md``."""
    return [factory() for factory in _FACTORIES]


def symbols():
    """The SymPy symbols a theorem may use, by name (their meaning is ``SYMBOLS[name]``)."""
    return dict(symbols_module._SYMBOL_OBJECTS)


__all__ = ["ANY", "catalogue", "symbols", "check", "values", "Theorem", "Quantity", "FinalMetric",
           "AverageGradNormSq", "Measurement", "Requirement", "ConditionError", "CheckResult",
           "VERDICTS", "SYMBOLS", "batch_smoothness", "gradient_bounds", "rule_is", "sampler_is",
           "full_batch", "tuned", "SamplingConstants", "sampling_constants", "component_lower_bounds",
           "components_convex", "enumerate_sampling", "exact_second_moment", "exact_moments",
           "check_inequalities", "steps_needed", "Stationary", "stationary"] + [
               f.__name__ for f in _FACTORIES]
