"""Metrics on plain arrays, below both training and evaluation.

One definition of each quantity, read by training (early stopping on the validation
split) and by the evaluation protocol (the reported tables), so the two never disagree:

- :mod:`ml.metrics.ranks`: the rank of each query's correct answer in a distance
  matrix (the one tie rule: mid-rank);
- :mod:`ml.metrics.similarity`: MAP@k, Recall@k, RR@k and nDCG@k of a distance
  matrix against a ground-truth similarity;
- :mod:`ml.metrics.errors`: :class:`EvaluationError`, raised for malformed inputs.

Nothing here imports another package of ``ml``: no model, no file, no training.
"""
