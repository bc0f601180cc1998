r"""The SymPy symbols a theorem may use, their meanings, and substitution of named values."""
import sympy as sp

_positive = dict(positive=True)
_nonneg = dict(nonnegative=True)
gamma, rho, lam = sp.Symbol("gamma", **_nonneg), sp.Symbol("rho", **_nonneg), sp.Symbol("lam", **_nonneg)
T, k, b, n, d = (sp.Symbol(s, positive=True, integer=True) for s in ("T", "k", "b", "n", "d"))
L, L_max, L_mean, L_batch, mu = (sp.Symbol(s, **_positive) for s in ("L", "L_max", "L_mean", "L_batch", "mu"))
A, B, C = (sp.Symbol(s, **_nonneg) for s in ("A", "B", "C"))
delta, delta0, dist0 = (sp.Symbol(s, **_nonneg) for s in ("delta", "delta0", "dist0"))
sigma_sq, G, eps = sp.Symbol("sigma_sq", **_nonneg), sp.Symbol("G", **_nonneg), sp.Symbol("eps", **_positive)
beta, beta1, beta2, p, p_bar = (sp.Symbol(s, **_nonneg) for s in ("beta", "beta1", "beta2", "p", "p_bar"))
lambda_max = sp.Symbol("lambda_max", **_positive)

SYMBOLS = {
    "gamma": "step size γ (constant, or γ_k in a recursive bound)",
    "rho": "perturbation radius ρ (constant, or ρ_k)",
    "lam": "Unified SAM interpolation λ (1 = SAM, 0 = USAM)",
    "p": "perturbation probability p_k of step k (recursive bounds)",
    "p_bar": "mean perturbation probability (1/T) Σ_t p_t",
    "T": "number of steps", "k": "step index (recursive bounds)",
    "b": "batch size of the sampler", "n": "number of samples", "d": "dimension",
    "L": "smoothness of f", "L_max": "max_i L_i", "L_mean": "mean_i L_i",
    "L_batch": "max over minibatches S of the smoothness Σ_k w_k L_{i_k} of f_S",
    "mu": "PL constant μ",
    "A": "ABC constant A", "B": "ABC constant B", "C": "ABC constant C (with f_inf)",
    "delta": "the bounded quantity at step k (recursive bounds)",
    "delta0": "f(x_0) − f* (f(x_0) − f_inf where f* is unknown)",
    "dist0": "‖x_0 − x*‖²",
    "sigma_sq": "bound on the minibatch gradient variance sup_x E‖∇f_S(x) − ∇f(x)‖²",
    "G": "bound on ‖∇f_i(x)‖_∞ over all x and i",
    "eps": "AdaSAM ε (v̂ starts at ε²)",
    "beta": "heavy-ball / MSAM momentum", "beta1": "Adam β1", "beta2": "Adam β2",
    "lambda_max": "largest Hessian eigenvalue (quadratics; L otherwise)",
}
_SYMBOL_OBJECTS = {s.name: s for s in (gamma, rho, lam, p, p_bar, T, k, b, n, d, L, L_max, L_mean,
                                       L_batch, mu, A, B, C, delta, delta0, dist0, sigma_sq, G,
                                       eps, beta, beta1, beta2, lambda_max)}
PER_STEP = ("gamma", "rho", "lam", "p")     # symbols that take the value of step k in recursions



def _subs(expr, numbers):
    """``expr`` with the named values substituted (names → the symbols of ``SYMBOLS``)."""
    return sp.sympify(expr).subs({_SYMBOL_OBJECTS[name]: value for name, value in numbers.items()})
