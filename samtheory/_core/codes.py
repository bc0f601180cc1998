"""Integer codes shared by the problem descriptions, the samplers and the kernel."""
# per-sample loss ℓ_i (problems.base.FiniteSum)
SQUARED, LOGISTIC = 0, 1
LOSSES = (SQUARED, LOGISTIC)
# separable regulariser r
NONE, SINE, RATIONAL = 0, 1, 2
REGULARISERS = (NONE, SINE, RATIONAL)
# sampler kinds (sampling.BoundSampler)
WITH_REPLACEMENT, TAU_NICE, INDEPENDENT, STRATIFIED = 0, 1, 2, 3
