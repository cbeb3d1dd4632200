"""Benchmarks: one module per topic, each printing ratios against a baseline measured
in the same run (the machines are noisy). ``python -m bench`` runs them all."""
