r"""The stationary limit of the exact moment recursion, and the mean-square stability edge.

With constant schedules the exact backend's recursion (``engine.exact``) is one linear map 𝒯
on the homogeneous second moment Z = E[z̃z̃ᵀ], Z_{t+1} = 𝒯(Z_t), with the corner Z[−1, −1] = 1
fixed. Writing Z = E + Y with E the corner matrix, 𝒯 is block triangular: 𝒯(E + Y) = E + 𝒯(E)
− E + L(Y), L the restriction of 𝒯 to matrices with a zero corner (which it preserves). So

- the moments converge from every start iff the spectral radius ρ(L) < 1 (mean-square
  stability; ρ(L) includes the first moment's E[M] since L is itself block triangular);
- the limit is E + Y* with (I − L) Y* = 𝒯(E) − E, a linear system in the (D+1)(D+2)/2 − 1
  entries of the upper triangle of Y (D = d, or 2d with a momentum buffer).

Both use only applications of 𝒯, the O(nd²) operators of ``engine.exact_moments``, on the
upper triangles of symmetric matrices: up to ``DENSE_MAX`` unknowns the matrix of L is formed
column by column (eigenvalues and a direct solve), beyond it ARPACK (``eigs``) gives ρ and
GMRES solves the system. The stability edge is the largest step size γ (the rule's other
parameters fixed) with ρ < 1, found by doubling or halving from the rule's γ to a bracket and
bisecting to a relative ``EDGE_RTOL``: the upper end of the stable interval containing the
rule's γ (or below it, when that γ is unstable). A direction no step contracts (a flat
direction of every f_i, e.g. rank-deficient A, or a saddle) gives ρ ≥ 1 at every γ: no limit.
"""
from dataclasses import dataclass, field
import math

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigs, gmres

from ..engine.exact import MomentRecursion

DENSE_MAX = 600          # unknowns up to which L is formed as a matrix
STABLE_BELOW = 1 - 1e-12  # ρ below this: stable (ρ = 1 to rounding is a marginal direction)
EDGE_RTOL = 1e-9         # relative width of the final bisection bracket of the stability edge
MAX_HALVINGS = 60        # bracket search: at most this many doublings or halvings of γ
SOLVE_RTOL = 1e-13       # GMRES relative residual


@dataclass(frozen=True)
class Stationary:
    """The limit of E over the iterates of a constant-step rule (module docstring).

    ``loss_gap`` lim E[f(x_t)] − f_ref (f_ref = f*, else f_inf, else 0), ``dist_sq``
    lim E‖x_t − x*‖² (NaN without x*), ``grad_norm_sq`` lim E‖∇f(x_t)‖², ``mean_x`` lim E[x_t]:
    all NaN when the recursion is not mean-square stable. ``spectral_radius`` ρ(L) at the
    rule's step size ``lr``; ``stability_edge`` the largest stable step size (0 when none
    is, inf when every one is)."""
    configuration: str
    lr: float
    spectral_radius: float
    stable: bool
    loss_gap: float
    dist_sq: float
    grad_norm_sq: float
    stability_edge: float
    mean_x: np.ndarray = field(repr=False)

    def __str__(self):
        head = f"{self.configuration}, γ = {self.lr:.6g}: "
        if self.stable:
            body = (f"mean-square stable (spectral radius {self.spectral_radius:.6g}); limits "
                    f"E[f] − f_ref = {self.loss_gap:.6g}, E‖x − x*‖² = {self.dist_sq:.6g}, "
                    f"E‖∇f‖² = {self.grad_norm_sq:.6g}")
        else:
            body = (f"not mean-square stable (spectral radius {self.spectral_radius:.6g} ≥ 1): "
                    "the second moment does not converge")
        return head + body + f"; stability edge γ = {self.stability_edge:.6g}"


class _Map:
    """𝒯 at fixed parameters, on the upper triangle of a symmetric matrix without its corner."""

    def __init__(self, recursion, lr, radius, chance):
        self.recursion, self.parameters = recursion, (lr, radius, chance)
        size = recursion.size
        rows, cols = np.triu_indices(size)
        keep = (rows < size - 1) | (cols < size - 1)
        self.rows, self.cols, self.size = rows[keep], cols[keep], size
        self.unknowns = self.rows.size

    def matrix(self, packed, corner=0.0):
        Z = np.zeros((self.size, self.size))
        Z[self.rows, self.cols] = packed
        Z[self.cols, self.rows] = packed
        Z[-1, -1] = corner
        return Z

    def apply(self, packed, corner=0.0):
        return self.recursion.step(self.matrix(packed, corner), *self.parameters)[self.rows, self.cols]

    def dense(self):
        return np.column_stack([self.apply(unit) for unit in np.eye(self.unknowns)])

    def operator(self):
        return LinearOperator((self.unknowns, self.unknowns), matvec=self.apply, dtype=float)


def _spectral_radius(T):
    if T.unknowns <= DENSE_MAX:
        return float(np.max(np.abs(np.linalg.eigvals(T.dense()))))
    return float(np.abs(eigs(T.operator(), k=1, which="LM", tol=1e-12,
                             return_eigenvectors=False)[0]))


def _limit(T):
    """Z* = E + Y*, (I − L) Y* = 𝒯(E) − E (whose packed form is 𝒯(E)'s: E has only the corner)."""
    rhs = T.apply(np.zeros(T.unknowns), corner=1.0)
    if T.unknowns <= DENSE_MAX:
        solution = np.linalg.solve(np.eye(T.unknowns) - T.dense(), rhs)
    else:
        system = LinearOperator((T.unknowns, T.unknowns), matvec=lambda v: v - T.apply(v), dtype=float)
        solution, info = gmres(system, rhs, rtol=SOLVE_RTOL, atol=0.0,
                               restart=min(T.unknowns, 200), maxiter=100)
        if info != 0:
            raise RuntimeError(f"GMRES did not reach the relative residual {SOLVE_RTOL:g} "
                               f"({T.unknowns} unknowns, info {info})")
    return T.matrix(solution, corner=1.0)


def _edge(stable_at, lr):
    """The upper end of the stable interval of step sizes around ``lr`` (module docstring)."""
    gamma = lr if lr > 0 else 1.0
    if stable_at(gamma):
        low, high = gamma, 2 * gamma
        for _ in range(MAX_HALVINGS):
            if not stable_at(high):
                break
            low, high = high, 2 * high
        else:
            return math.inf
    else:
        low, high = gamma / 2, gamma
        for _ in range(MAX_HALVINGS):
            if stable_at(low):
                break
            low, high = low / 2, low
        else:
            return 0.0
    while high - low > EDGE_RTOL * high:
        middle = (low + high) / 2
        low, high = (middle, high) if stable_at(middle) else (low, middle)
    return low


def stationary(problem, rule, sampler):
    """The exact stationary limit of ``rule`` (constant schedules) on a quadratic ``problem``
    under ``sampler``, with its mean-square stability edge in the step size.

    Returns
    -------
    Stationary

    Raises
    ------
    ValueError
        When a schedule is not constant, or the configuration is outside the exact backend's
        class (``engine.exact.refusal``, the reason named).
    """
    for name in ("lr", "rho", "lam", "perturb_prob"):
        if not hasattr(getattr(rule, name), "value"):
            raise ValueError(f"stationary needs constant schedules; {name} is "
                             f"{getattr(rule, name).describe()}")
    recursion = MomentRecursion(problem, rule, sampler)
    lr, radius, chance, _ = (float(value[0]) for value in recursion.schedule(1))

    def radius_at(gamma):
        return _spectral_radius(_Map(recursion, gamma, radius, chance))

    rho = radius_at(lr)
    stable = rho < STABLE_BELOW
    nan = math.nan
    gap, grad, dist, mean_x = (recursion.metrics(_limit(_Map(recursion, lr, radius, chance))) if stable
                               else (nan, nan, nan, np.full(problem.d, nan)))
    edge = _edge(lambda gamma: radius_at(gamma) < STABLE_BELOW, lr)
    configuration = (f"{rule.name} on {getattr(problem, 'name', type(problem).__name__)} with "
                     f"{type(sampler).__name__}")
    return Stationary(configuration, lr, rho, stable, gap, dist, grad, edge, mean_x)
