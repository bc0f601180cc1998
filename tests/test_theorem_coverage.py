"""Every theorem covers exactly the rules it states, and refuses the others naming the field.

Promises:
- for every theorem of the catalogue × every preset, its ``.stabilised()`` version and its
  version with perturb_prob = ½, the pair is admitted (requirements and conditions pass,
  before any simulation) exactly when the rule is in the theorem's stated set below, and
  refused otherwise with a ConditionError that names the Rule field or the symbol at fault;
- a theorem added to the catalogue must be added to ``COVERS`` (the test fails otherwise).

The sets are written from the statements (docs/theory.md §4–§5), not read off the code:
a plain SGD step is the ρ = 0 case of Unified SAM, RST and the SAM threshold; RST with p ≡ 1
is SAM; ρ ≡ 0 makes the perturbation probability irrelevant for the SGD theorems.
"""
from dataclasses import replace

import pytest

import samtheory as st
from samtheory import theory

LR, RHO = 1e-5, 1e-3


def _variants():
    base = {
        "SGD": st.SGD(LR), "HeavyBall": st.HeavyBall(LR), "SAM": st.SAM(LR, RHO), "USAM": st.USAM(LR, RHO),
        "UnifiedSAM": st.UnifiedSAM(LR, RHO, 0.5),
        "SAM independent": st.SAM(LR, RHO, ascent_batch="independent"),
        "AdaSAM": st.AdaSAM(LR, RHO, beta1=0.0, eps=1.0), "AdaSAM β1=0.9": st.AdaSAM(LR, RHO, eps=1.0),
        "AMSGrad": st.AMSGrad(LR, beta1=0.0, eps=1.0), "Adam": st.Adam(LR),
        "StableSAM": st.StableSAM(LR, RHO), "StableSAM λ=1": st.StableSAM(LR, RHO, lam=1.0),
        "StableSAM cap": st.StableSAM(LR, RHO, cap=True),
        "RST": st.RST(LR, RHO, 0.5), "GRST mix": st.GRST(LR, RHO, 0.5, 1.0),
        "GRST radius": st.GRST(LR, RHO, 0.5, 1.0, mode="radius"), "MSAM": st.MSAM(LR, RHO),
    }
    out = dict(base)
    for name, rule in base.items():
        if not rule.stable:
            out[f"{name}.stabilised"] = rule.stabilised()
        out[f"{name} p=½"] = replace(rule, perturb_prob=0.5)
    return out


VARIANTS = _variants()
STABLE_SGD_RULES = {"StableSAM", "StableSAM λ=1", "SGD.stabilised", "SAM.stabilised", "USAM.stabilised",
                    "UnifiedSAM.stabilised"}
UNIFIED = {"SGD", "SAM", "USAM", "UnifiedSAM", "SAM independent"}
RST_SET = {"SGD", "SGD p=½", "SAM", "SAM p=½", "RST", "RST p=½"}
COVERS = {
    "SGD, PL, ABC": {"SGD", "SGD p=½"},
    "SGD, non-convex, ABC": {"SGD", "SGD p=½"},
    "Unified SAM, PL, constant step": UNIFIED,
    "Unified SAM, PL, decreasing step": UNIFIED,
    "Unified SAM, non-convex": UNIFIED,
    "AdaSAM, O(1/sqrt(bT))": {"AdaSAM", "AMSGrad"},
    "AdaSAM, O(1/sqrt(bT)), published form": {"AdaSAM", "AMSGrad"},
    "RST, floor linear in p̄": RST_SET,
    "RST, floor linear in p̄, published form": RST_SET,
    "GD stability threshold": {"SGD", "SGD p=½"},
    "USAM stability threshold": {"USAM"},
    "SAM divergence threshold": {"SGD", "SAM"},
    "Stable SAM stability threshold": STABLE_SGD_RULES,
    "SAM 2-cycle amplitude": {"SAM"},
    "SAM edge on the 2-cycle": {"SAM"},
    "MSAM 2-cycle amplitude": {"MSAM"},
}
FIELDS = ("base=", "ascent=", "ascent_batch=", "grst_mode=", "grst_alpha=", "stable=", "stable_cap=",
          "amsgrad=", "bias_correction=", "eps=", "vhat_init=", "perturb_prob=", "ρ ≡ 0", "λ ≡ 1",
          "lam", "rho", "beta1")


def refusal(theorem, problem, rule, sampler, steps):
    """None when the configuration passes the requirements and conditions, else the message."""
    try:
        numbers, schedules = theorem.numbers(problem, rule, sampler, steps)
    except theory.ConditionError as error:
        return str(error)
    # conditions on the run length T (the cycles' transient) concern T, not which rules are covered
    failing = [r for r in theorem.condition_reports(numbers, schedules)
               if not r.holds and theory.symbols()["T"] not in r.relation.free_symbols]
    return f"condition {failing[0]}" if failing else None


@pytest.mark.parametrize("theorem", theory.catalogue(), ids=lambda t: t.name)
def test_theorem_admits_exactly_its_stated_rules(theorem):
    assert theorem.name in COVERS, f"state which rules {theorem.name!r} covers in COVERS"
    config = theorem.example()
    admitted = set()
    for name, rule in VARIANTS.items():
        why = refusal(theorem, config["problem"], rule, config["sampler"], config["steps"])
        if why is None:
            admitted.add(name)
        else:
            assert any(field in why for field in FIELDS), f"{name}: refusal names no field: {why}"
    assert admitted == COVERS[theorem.name]


def test_stable_sam_is_refused_by_the_sam_cycle_naming_stable():
    """The issue's example: a Stable SAM rule was accepted by the SAM 2-cycle and 'violated' it."""
    with pytest.raises(theory.ConditionError, match=r"stable=True \(the theorem covers False\)"):
        theory.check(theory.sam_cycle(), problem=st.problems.Quadratic([10.0, 1.0]),
                     rule=st.StableSAM(0.15, 0.05, lam=1.0), sampler=st.TauNice(2), steps=1500,
                     trajectories=1)
    with pytest.raises(theory.ConditionError, match=r"perturb_prob=0.5 \(the theorem covers 1.0\)"):
        theory.check(theory.msam_cycle(), problem=st.problems.Quadratic([1.0]),
                     rule=replace(st.MSAM(0.1, 0.05), perturb_prob=0.5), sampler=st.TauNice(1),
                     steps=1500, trajectories=1)
