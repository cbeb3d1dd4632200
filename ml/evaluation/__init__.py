"""Evaluation, one module per task (in the manner of ``mir_eval``).

- :mod:`ml.evaluation.retrieval`: Recall@k and mean rank with a 95% interval;
- :mod:`ml.evaluation.scenarios`: vanilla, crop query, stretch targets, crop+stretch;
- :mod:`ml.evaluation.protocol`: every ranking cost under every scenario, written as a
  markdown table shaped like docs/method.md §7 and as JSON.

The metrics that training also reads live below both, in :mod:`ml.metrics`: the rank
of the correct answer (:mod:`ml.metrics.ranks`) and the music-similarity metrics MAP@20,
Recall@20, RR@20 and nDCG@20 (:mod:`ml.metrics.similarity`).

The protocol module imports the ranking kernels; import it explicitly.
"""
