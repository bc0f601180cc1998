r"""Structural requirements of a theorem: which rules, samplers and problems it covers.

``rule_is`` is default-deny: every structural Rule field a theorem does not name must be at
its neutral value, so a theorem refuses (naming the field) any rule its statement does not
cover. Numbers (γ, ρ, λ, β) enter through the theorem's conditions instead.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._core.codes import TAU_NICE, INDEPENDENT, STRATIFIED

@dataclass(frozen=True)
class Requirement:
    """A structural assumption: ``test(problem, rule, sampler)`` returns None or why it fails."""
    label: str
    test: Callable

    def failure(self, problem, rule, sampler):
        return self.test(problem, rule, sampler)


class _Any:
    def __repr__(self):
        return "any"


ANY = _Any()
# The Rule fields that change the update's structure, at their neutral values (a plain step,
# always perturbing when ρ > 0). lr, rho, lam, momentum and beta2 are numbers that enter a
# theorem through its symbols (γ, ρ, λ, β/β1, β2) and its conditions.
NEUTRAL = {"base": "sgd", "ascent": "gradient", "ascent_batch": "same", "grst_mode": "none",
           "grst_alpha": 1.0, "stable": False, "stable_cap": False, "amsgrad": False,
           "bias_correction": False, "eps": 0.0, "vhat_init": 0.0, "perturb_prob": 1.0}


def _field(rule, name):
    value = getattr(rule, name)
    # a schedule counts as its constant value; a varying one matches only ANY
    return getattr(value, "value", "a schedule") if name == "perturb_prob" else value


def rule_is(label, **fields):
    """The rules a theorem covers: every structural field (``NEUTRAL``) named here takes one of
    the given values (a value, a tuple of values, or ``ANY``), and every structural field not
    named is at its neutral value. So a theorem for SAM refuses Stable SAM (``stable``), RST
    (``perturb_prob``), G-RST (``grst_mode``) and an adaptive base (``base``) unless it names
    them; the refusal names the field."""
    unknown = set(fields) - set(NEUTRAL)
    if unknown:
        raise ValueError(f"rule_is names non-structural fields {sorted(unknown)}; "
                         f"structural fields: {sorted(NEUTRAL)}")
    allowed = {name: fields.get(name, neutral) for name, neutral in NEUTRAL.items()}

    def admits(spec, value):
        return spec is ANY or (value in spec if isinstance(spec, tuple) else value == spec)

    def test(problem, rule, sampler):
        wrong = {name: _field(rule, name) for name, spec in allowed.items()
                 if not admits(spec, _field(rule, name))}
        if wrong:
            return "the rule has " + ", ".join(f"{name}={value!r} (the theorem covers {allowed[name]!r})"
                                               for name, value in wrong.items())
        return None
    return Requirement(label, test)


def sampler_is(label, *kinds, uniform=False):
    """The sampler is an instance of one of ``kinds`` (and uniform, if asked)."""
    def test(problem, rule, sampler):
        if not isinstance(sampler, kinds) or (uniform and not sampler.bind(problem).uniform_probabilities):
            return f"the sampler is {sampler.describe()}"
        return None
    return Requirement(label, test)


def full_batch():
    """The sampler always returns the full gradient: τ-nice with b = n, independent with
    every p_i = 1, or stratified with singleton blocks."""
    def test(problem, rule, sampler):
        bound = sampler.bind(problem)
        exact = ((bound.kind == TAU_NICE and bound.batch == bound.n)
                 or (bound.kind == INDEPENDENT and np.all(bound.probabilities == 1.0))
                 or (bound.kind == STRATIFIED and np.all(np.diff(bound.offsets) == 1)))
        return None if exact else f"the sampler {sampler.describe()} does not always take every sample"
    return Requirement("full batch (deterministic: every sample, weight 1/n)", test)


def diagonal_quadratic(positive=True):
    def test(problem, rule, sampler):
        eigen = getattr(problem, "eigenvalues", None)
        if eigen is None:
            return f"the problem is {problem.name}, not a Quadratic"
        if positive and np.any(eigen <= 0):
            return "the quadratic has a non-positive eigenvalue"
        return None
    return Requirement("f = ½ Σ λ_j x_j² (problems.Quadratic)", test)


def no_perturbation():
    return Requirement("ρ ≡ 0 (no perturbation)", lambda problem, rule, sampler:
                       "the rule perturbs (ρ is not the constant 0)" if rule.perturbs else None)
