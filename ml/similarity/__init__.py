"""Ground-truth music similarity and the triplets mined from it (MuSimNet training).

- :mod:`ml.similarity.tags`: S as a weighted Jaccard over tag sets, with tag weights
  and tag expansion; or the catalog owner's own matrix, validated.
- :mod:`ml.similarity.mining`: ranked-list triplet mining (neighbours, uniform,
  distance-based), offline.
"""
