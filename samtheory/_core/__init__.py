"""The leaf of the package: integer codes and the counter-based random streams.

Problems, samplers and the engine all import these; this package imports nothing
of samtheory, so data flows one way (problems, samplers, rules -> engine -> results).
"""
