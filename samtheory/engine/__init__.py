"""The engine: ``simulate`` (validation and dispatch), the Numba ``kernel``, the NumPy
``reference``, the counter-based ``rng`` and the integer ``codes`` they share."""
