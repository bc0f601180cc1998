"""Finite-sum objectives with their constants (see ``base.Problem``)."""
from .base import FiniteSum, Problem
from .custom import Custom
from .landscapes import (DiagonalNetwork, MatrixSensing, TwoLayer, diagonal_network,
                         matrix_sensing, scalar_factorisation, two_layer)
from .least_squares import LeastSquares, Quadratic, random_least_squares, saddle
from .nonconvex import (LogisticNonconvex, SineLeastSquares, random_logistic,
                        random_sine_least_squares, sine_pl_ratio)

__all__ = ["Problem", "FiniteSum", "Custom", "LeastSquares", "Quadratic", "random_least_squares",
           "saddle", "SineLeastSquares", "random_sine_least_squares", "sine_pl_ratio",
           "LogisticNonconvex", "random_logistic", "DiagonalNetwork", "diagonal_network",
           "scalar_factorisation", "MatrixSensing", "matrix_sensing", "TwoLayer", "two_layer"]
