"""The FAISS centroid index: exact and IVF regimes, updates, filters, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from app.index import centroids as centroids_module
from app.index.centroids import CentroidIndex, IvfParams, default_ivf_params, gpu_available
from app.index.errors import DeviceUnavailableError, DimensionMismatchError


def _exact_top(centroids, ids, query, k, allowed=None):
    sims = centroids @ (query / np.linalg.norm(query))
    if allowed is not None:
        sims = np.where(np.isin(ids, allowed), sims, -np.inf)
    order = np.argsort(-sims, kind="stable")[:k]
    order = order[np.isfinite(sims[order])]
    return ids[order], sims[order]


@pytest.fixture(scope="module")
def data(clustered, centroids_of):
    rng = np.random.default_rng(3)
    ids = clustered.track_ids * 7 + 100  # ids need not be dense nor start at 0
    cents = centroids_of(clustered)
    picks = rng.integers(0, len(ids), 20)
    queries = cents[picks] + rng.normal(0, 0.1, (len(picks), cents.shape[1])).astype(np.float32)
    return ids, cents, queries


def test_flat_index_is_exact(data):
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], device="cpu")
    index.add(ids, cents)
    assert index.kind == "flat" and index.ntotal == len(ids)
    for q in queries:
        got_ids, got_sims = index.search(q, 50)
        want_ids, want_sims = _exact_top(cents, ids, q, 50)
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_allclose(got_sims, want_sims, atol=1e-5)


def test_ivf_recall_against_exact_on_clustered_data(data):
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], exact_max=1000, device="cpu")
    index.add(ids, cents)
    assert index.kind == "ivf"
    params = default_ivf_params(len(ids))
    assert index.nlist <= params.nlist and index.nprobe >= 1
    recalls = []
    for q in queries:
        got, _ = index.search(q, 200)
        want, _ = _exact_top(cents, ids, q, 200)
        assert len(got) == 200
        recalls.append(len(np.intersect1d(got, want)) / 200)
    assert np.mean(recalls) >= 0.9
    index.set_nprobe(index.nlist)  # probing every cell is exhaustive
    for q in queries[:5]:
        got, _ = index.search(q, 200)
        np.testing.assert_array_equal(np.sort(got), np.sort(_exact_top(cents, ids, q, 200)[0]))


def test_more_probes_never_lower_recall(data):
    ids, cents, queries = data
    index = CentroidIndex(
        cents.shape[1], exact_max=1000, ivf=IvfParams(256, 4), min_scan_per_result=0, device="cpu"
    )
    index.add(ids, cents)
    recall = []
    for nprobe in (1, 8, 64):
        index.set_nprobe(nprobe)
        hits = [
            len(np.intersect1d(index.search(q, 100)[0], _exact_top(cents, ids, q, 100)[0]))
            for q in queries
        ]
        recall.append(np.mean(hits) / 100)
    assert recall[0] <= recall[1] <= recall[2]
    assert recall[0] < 0.9 < recall[2]


def test_large_k_probes_enough_cells(data):
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], exact_max=1000, ivf=IvfParams(256, 1), device="cpu")
    index.add(ids, cents)
    got, _ = index.search(queries[0], 1000)  # one cell holds ~23 tracks: nprobe must grow
    assert len(got) == 1000
    assert len(np.intersect1d(got, _exact_top(cents, ids, queries[0], 1000)[0])) > 900


@pytest.mark.parametrize("subset_scan", [True, False], ids=["subset-scan", "id-selector"])
@pytest.mark.parametrize("exact_max", [100_000, 1000])
def test_filters_return_k_when_enough_qualify(data, exact_max, subset_scan, monkeypatch):
    if not subset_scan:  # force FAISS's id selector (and IVF's growing probes)
        monkeypatch.setattr(centroids_module, "SUBSET_SCAN_VALUES", 0)
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], exact_max=exact_max, device="cpu")
    index.add(ids, cents)
    rng = np.random.default_rng(0)
    for share in (0.5, 0.05, 0.004):  # the last keeps 24 tracks: far fewer than one cell holds
        allowed = np.sort(rng.choice(ids, int(share * len(ids)), replace=False))
        for q in queries[:4]:
            got, _ = index.search(q, 20, allowed)
            assert len(got) == 20
            assert np.isin(got, allowed).all()
            if index.kind == "flat":
                np.testing.assert_array_equal(got, _exact_top(cents, ids, q, 20, allowed)[0])
    few = np.sort(ids[:7])
    got, _ = index.search(queries[0], 20, few)
    np.testing.assert_array_equal(np.sort(got), few)  # fewer qualify than asked: all of them
    assert len(index.search(queries[0], 20, np.empty(0, np.int64))[0]) == 0


def test_add_remove_and_regime_changes(data):
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], exact_max=2000, device="cpu")
    index.add(ids[:1500], cents[:1500])
    assert index.kind == "flat"
    index.add(ids[1500:], cents[1500:])  # crosses exact_max: trains IVF on everything
    assert index.kind == "ivf" and index.trained_on == len(ids)
    assert index.remove(ids[:100]) == 100
    assert index.remove(ids[:100]) == 0
    got, _ = index.search(cents[5], 10)
    assert ids[5] not in got
    assert index.remove(ids[100:5500]) == 5400  # below exact_max / 2: exact again
    assert index.kind == "flat" and index.ntotal == 500
    got_ids, got_cents = index.contents()
    np.testing.assert_array_equal(got_ids, np.sort(ids[5500:]))
    np.testing.assert_allclose(got_cents, cents[5500:][np.argsort(ids[5500:])], atol=1e-6)
    for q in queries:
        np.testing.assert_array_equal(
            index.search(q, 30)[0], _exact_top(cents[5500:], ids[5500:], q, 30)[0]
        )


def test_ivf_training_is_independent_of_arrival_order(data):
    ids, cents, queries = data
    a = CentroidIndex(cents.shape[1], exact_max=1000, device="cpu")
    a.add(ids, cents)
    b = CentroidIndex(cents.shape[1], exact_max=1000, device="cpu")
    order = np.random.default_rng(1).permutation(len(ids))
    b.add(ids[order], cents[order])
    for q in queries:
        np.testing.assert_array_equal(a.search(q, 100)[0], b.search(q, 100)[0])


@pytest.mark.parametrize("exact_max", [100_000, 1000])
def test_serialize_restore_gives_identical_results(data, exact_max):
    ids, cents, queries = data
    index = CentroidIndex(cents.shape[1], exact_max=exact_max, device="cpu")
    index.add(ids, cents)
    index.remove(ids[::3])
    again = CentroidIndex(cents.shape[1], device="cpu")
    again.restore(index.serialize(), index.trained_on)
    assert again.kind == index.kind and again.ntotal == index.ntotal
    for q in queries:
        for a, b in zip(index.search(q, 100), again.search(q, 100)):
            np.testing.assert_array_equal(a, b)
    again.remove(ids[1:2])  # still mutable after a restore
    assert again.ntotal == index.ntotal - 1


def test_errors():
    index = CentroidIndex(8, device="cpu")
    with pytest.raises(DimensionMismatchError):
        index.add(np.array([1]), np.ones((1, 9)))
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones(9), 3)
    assert len(index.search(np.ones(8), 3)[0]) == 0  # empty index: no result, no error
    if not gpu_available():
        with pytest.raises(DeviceUnavailableError):
            CentroidIndex(8, device="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("exact_max", [100_000, 1000])
def test_gpu_replica_gives_the_cpu_results(data, exact_max):
    if not gpu_available():
        pytest.skip("FAISS has no GPU support here or sees no GPU")
    ids, cents, queries = data
    cpu = CentroidIndex(cents.shape[1], exact_max=exact_max, device="cpu")
    gpu = CentroidIndex(cents.shape[1], exact_max=exact_max, device="cuda")
    for index in (cpu, gpu):
        index.add(ids, cents)
        index.remove(ids[:50])
    allowed = np.sort(ids[::4])
    for q in queries:
        for flt in (None, allowed):
            c_ids, c_sims = cpu.search(q, 100, flt)
            g_ids, g_sims = gpu.search(q, 100, flt)
            assert len(np.intersect1d(c_ids, g_ids)) >= 98  # float ties may swap at the edge
            np.testing.assert_allclose(np.sort(c_sims), np.sort(g_sims), atol=1e-4)
