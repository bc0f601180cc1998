r"""The SAM family as one generic update rule, and its named presets.

One step of ``Rule`` at iterate x, step t (0-based), with minibatch S_t:

1. perturb = (ρ_t > 0) and (U_t < p_t), U_t the trajectory's coin uniform
   (p_t ≡ 1: always; RST draws X_t ~ Bernoulli(p_t) this way).
2. If not perturb: h = g = ∇f_S(x)                             (1 gradient).
3. Otherwise, the ascent direction d is
   - ``ascent="gradient"``: d = g = ∇f_S(x), or d = ∇f_S'(x) on an
     independent minibatch S' when ``ascent_batch="independent"``;
   - ``ascent="momentum"`` (MSAM): d = −m, the momentum buffer before its
     update (zero at the start: no perturbation on the first step);
   the radius is r = ρ_t, or α ρ_t / p_t for G-RST radius scaling, and
       e = r (1 − λ_t + λ_t / (‖d‖ + 1e-12)) d,    h = ∇f_S(x + e)
   (λ = 1: SAM, normalised; λ = 0: USAM). Then
   - G-RST mixing: h ← g + (α/p_t)(h − g);
   - Stable SAM: h ← s h with s = ‖g‖/(‖h‖ + 1e-12), or min(1, s) with ``stable_cap``.
   g is evaluated only when one of these needs it (MSAM alone costs 1 gradient).
4. Base step on h:
   - ``"sgd"``: x ← x − γ_t h;
   - ``"heavyball"`` (torch convention): m ← β m + h; x ← x − γ_t m;
   - ``"adam"``: m ← β1 m + (1 − β1) h; v ← β2 v + (1 − β2) h²;
     with ``amsgrad`` v̂ ← max(v̂, v) (v̂ starts at ``vhat_init``), else v̂ = v;
     x ← x − γ_t (m / c1) / (√(v̂ / c2) + ``eps``), where c1 = 1 − β1^{t+1},
     c2 = 1 − β2^{t+1} with ``bias_correction`` and c1 = c2 = 1 without.
     AdaSAM (docs/theory.md §3): amsgrad, no bias correction, eps = 0, v̂_0 = ε².

Every gradient evaluation ∇f_S counts once in the ``grad_evals`` metric.
"""
from dataclasses import dataclass, field, fields, replace

import numpy as np

from . import _validate
from .schedules import Schedule, as_schedule, evaluate

BASES = {"sgd": 0, "heavyball": 1, "adam": 2}
ASCENTS = {"gradient": 0, "momentum": 1}
ASCENT_BATCHES = {"same": 0, "independent": 1}
GRST_MODES = {"none": 0, "mix": 1, "radius": 2}


@dataclass(frozen=True)
class Rule:
    """A point of the SAM family's parameter space (see the module docstring).

    Step size ``lr`` (γ_t ≥ 0), radius ``rho`` (ρ_t ≥ 0), interpolation
    ``lam`` (λ_t ∈ [0, 1]) and perturbation probability ``perturb_prob``
    (p_t ∈ [0, 1]) accept numbers, schedules, arrays or callables.
    """
    lr: object
    rho: object = 0.0
    lam: object = 1.0
    perturb_prob: object = 1.0
    ascent: str = "gradient"
    ascent_batch: str = "same"
    grst_mode: str = "none"
    grst_alpha: float = 1.0
    stable: bool = False
    stable_cap: bool = False
    base: str = "sgd"
    momentum: float = 0.0        # β (heavy ball) or β1 (adam)
    beta2: float = 0.999
    eps: float = 0.0             # added to the adam denominator
    vhat_init: float = 0.0       # starting value of v̂ (amsgrad)
    amsgrad: bool = False
    bias_correction: bool = False
    name: str = field(default="Rule", compare=False)

    def __post_init__(self):
        for attr in ("lr", "rho", "lam", "perturb_prob"):
            object.__setattr__(self, attr, as_schedule(getattr(self, attr), attr))
        _validate.choice("ascent", self.ascent, ASCENTS)
        _validate.choice("ascent_batch", self.ascent_batch, ASCENT_BATCHES)
        _validate.choice("grst_mode", self.grst_mode, GRST_MODES)
        _validate.choice("base", self.base, BASES)
        # Store plain Python numbers: one kernel signature, JSON-ready configurations.
        for attr, low, high, high_open in (("grst_alpha", 0.0, np.inf, False),
                                           ("momentum", 0.0, 1.0, True), ("beta2", 0.0, 1.0, True),
                                           ("eps", 0.0, np.inf, False), ("vhat_init", 0.0, np.inf, False)):
            value = _validate.real(attr, getattr(self, attr), low, high, high_open=high_open)
            object.__setattr__(self, attr, value)
        if self.grst_alpha <= 0:
            raise ValueError(f"grst_alpha must lie in (0, inf), got {self.grst_alpha!r}")
        for attr in ("stable", "stable_cap", "amsgrad", "bias_correction"):
            value = getattr(self, attr)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{attr} must be True or False, got {value!r}")
            object.__setattr__(self, attr, bool(value))
        self._check_options_apply()
        if self.base == "adam" and self.eps == 0.0 and self.vhat_init == 0.0:
            raise ValueError("an adam base needs eps > 0 or vhat_init > 0 (else a zero gradient "
                             "coordinate divides 0 by 0)")
        if self.base == "adam" and self.vhat_init > 0 and not self.amsgrad:
            raise ValueError("vhat_init only applies with amsgrad=True")
        if self.ascent == "momentum" and self.base == "sgd":
            raise ValueError("ascent='momentum' needs a momentum buffer: base must be 'heavyball' or 'adam'")
        if self.stable_cap and not self.stable:
            raise ValueError("stable_cap=True needs stable=True")
        for attr, low, high in (("lr", 0.0, np.inf), ("rho", 0.0, np.inf), ("lam", 0.0, 1.0),
                                ("perturb_prob", 0.0, 1.0)):
            sched = getattr(self, attr)
            if hasattr(sched, "value"):   # a constant: validate now, not at the first run
                _validate.real(attr, sched.value, low, high)

    def _check_options_apply(self):
        """Reject options that would be silently ignored by the chosen base or mode."""
        if self.base == "sgd" and self.momentum != 0.0:
            raise ValueError("momentum applies to base 'heavyball' or 'adam', not 'sgd'")
        if self.base != "adam":
            for attr, default in (("beta2", 0.999), ("eps", 0.0), ("vhat_init", 0.0),
                                  ("amsgrad", False), ("bias_correction", False)):
                if getattr(self, attr) != default:
                    raise ValueError(f"{attr} applies only to base 'adam', not {self.base!r}")
        if self.grst_mode == "none" and self.grst_alpha != 1.0:
            raise ValueError("grst_alpha applies only with grst_mode 'mix' or 'radius'")
        if self.ascent == "momentum" and self.ascent_batch == "independent":
            raise ValueError("ascent_batch='independent' applies only to ascent='gradient' "
                             "(the momentum ascent uses no minibatch)")

    # -- evaluation ------------------------------------------------------
    def arrays(self, steps):
        """Per-step values (lr, rho, lam, perturb_prob), each of shape (steps,), validated."""
        lr = evaluate(self.lr, steps, "lr", 0.0)
        rho = evaluate(self.rho, steps, "rho", 0.0)
        lam = evaluate(self.lam, steps, "lam", 0.0, 1.0)
        prob = evaluate(self.perturb_prob, steps, "perturb_prob", 0.0, 1.0)
        return lr, rho, lam, prob

    @property
    def perturbs(self):
        """False when ρ is the constant 0 (the rule is a plain base optimiser)."""
        return not (hasattr(self.rho, "value") and self.rho.value == 0.0)

    def stabilised(self, cap=False):
        """This rule with Stable SAM's descent renormalisation h ← (‖g‖/‖h‖) h."""
        return replace(self, stable=True, stable_cap=cap, name=f"Stable{self.name}")

    def describe(self):
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.describe() if isinstance(value, Schedule) else value
        return out


# -- presets -------------------------------------------------------------

def SGD(lr):
    """x ← x − γ_t ∇f_S(x)."""
    return Rule(lr=lr, name="SGD")


def HeavyBall(lr, momentum=0.9):
    """m ← β m + g; x ← x − γ m (torch convention)."""
    return Rule(lr=lr, base="heavyball", momentum=momentum, name="HeavyBall")


def UnifiedSAM(lr, rho, lam, **options):
    """x ← x − γ ∇f_S(x + ρ(1 − λ + λ/‖g‖) g) (Oikonomou & Loizou 2025)."""
    return Rule(lr=lr, rho=rho, lam=lam, name="UnifiedSAM", **options)


def SAM(lr, rho, **options):
    """Normalised SAM: UnifiedSAM with λ = 1."""
    return Rule(lr=lr, rho=rho, lam=1.0, name="SAM", **options)


def USAM(lr, rho, **options):
    """Unnormalised SAM: UnifiedSAM with λ = 0."""
    return Rule(lr=lr, rho=rho, lam=0.0, name="USAM", **options)


def AdaSAM(lr, rho, beta1=0.9, beta2=0.999, eps=1e-8, **options):
    """SAM ascent with an AMSGrad step: no bias correction, v̂_0 = ε², no ε in the denominator."""
    _validate.real("eps", eps, 0.0, np.inf, low_open=True)
    _validate.real("beta1", beta1, 0.0, 1.0, high_open=True)
    return Rule(lr=lr, rho=rho, lam=1.0, base="adam", momentum=beta1, beta2=beta2,
                vhat_init=eps ** 2, amsgrad=True, name="AdaSAM", **options)


def AMSGrad(lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """AdaSAM without perturbation (the same AMSGrad conventions)."""
    return replace(AdaSAM(lr, 0.0, beta1, beta2, eps), name="AMSGrad")


def Adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False):
    """Adam in torch's convention: bias correction, ε added to √v̂, v̂ max starts at 0."""
    _validate.real("beta1", beta1, 0.0, 1.0, high_open=True)
    return Rule(lr=lr, base="adam", momentum=beta1, beta2=beta2, eps=eps, amsgrad=amsgrad,
                bias_correction=True, name="AMSGradTorch" if amsgrad else "Adam")


def StableSAM(lr, rho, lam=0.0, cap=False, **options):
    """Stable SAM on SGD: the descent gradient h is rescaled to ‖g‖, g = ∇f_S(x) the
    unperturbed gradient on the descent minibatch (the ascent gradient under the
    default same-batch ascent; with ``ascent_batch="independent"`` g costs a third
    gradient evaluation).

    The default ``lam=0`` perturbs by e = ρ g (the journal version); ``lam=1``
    uses e = ρ g/‖g‖ (arXiv v1). Use ``rule.stabilised()`` for Stable AdaSAM etc.
    """
    return Rule(lr=lr, rho=rho, lam=lam, stable=True, stable_cap=cap, name="StableSAM", **options)


def RST(lr, rho, schedule, lam=1.0, **options):
    """Randomised SAM: each step is a SAM step with probability p_t (``schedule``), else SGD."""
    return Rule(lr=lr, rho=rho, lam=lam, perturb_prob=schedule, name="RST", **options)


def GRST(lr, rho, schedule, alpha, mode="mix", lam=1.0, **options):
    """Generalised RST: on a SAM step use g + (α/p_t)(h − g) (``mode="mix"``)
    or the radius α ρ_t / p_t (``mode="radius"``). [derived: our reading]"""
    if mode not in ("mix", "radius"):
        raise ValueError(f"mode must be one of ['mix', 'radius'], got {mode!r}")
    return Rule(lr=lr, rho=rho, lam=lam, perturb_prob=schedule, grst_mode=mode, grst_alpha=alpha,
                name="GRST", **options)


def MSAM(lr, rho, momentum=0.9, lam=1.0):
    """Momentum-SAM: gradient at x − ρ v/‖v‖ (v the momentum before its update);
    v ← μ v + g; x ← x − η v. One gradient per step."""
    return Rule(lr=lr, rho=rho, lam=lam, ascent="momentum", base="heavyball", momentum=momentum,
                name="MSAM")


PRESETS = {"SGD": SGD, "HeavyBall": HeavyBall, "SAM": SAM, "USAM": USAM, "UnifiedSAM": UnifiedSAM,
           "AdaSAM": AdaSAM, "AMSGrad": AMSGrad, "Adam": Adam, "StableSAM": StableSAM, "RST": RST,
           "GRST": GRST, "MSAM": MSAM}
