"""Finite-sum objectives with their constants (see ``base.FiniteSum``)."""
from .base import FiniteSum
from .least_squares import LeastSquares, Quadratic, random_least_squares, saddle
from .nonconvex import (LogisticNonconvex, SineLeastSquares, random_logistic,
                        random_sine_least_squares, sine_pl_ratio)

__all__ = ["FiniteSum", "LeastSquares", "Quadratic", "random_least_squares", "saddle",
           "SineLeastSquares", "random_sine_least_squares", "sine_pl_ratio",
           "LogisticNonconvex", "random_logistic"]
