"""FAISS index of track centroids: the first stage of a search (the shortlist).

A track's centroid is the mean of its segment embeddings, L2-normalised, so
inner product = cosine similarity. FAISS ids are the track ids (int64).

Two regimes, chosen by size:

* up to ``exact_max`` tracks, **exact** search: ``IndexIDMap2(IndexFlatIP)``.
  At 100k tracks and d = 512 a full scan is 51 M multiply-adds, a few ms;
* above it, **IVF** (``IndexIVFFlat``, inner product, spherical k-means). IVF
  was chosen over HNSW for three measured or structural reasons: it removes ids
  in place (``remove_ids``; HNSW cannot delete, so deletions would pile up as
  tombstones until a rebuild), its recall at a large ``k`` (a 1,000-track
  shortlist) is steered by one knob, ``nprobe``, whose cost is linear and
  predictable, and it adds vectors without a graph to repair. With a hash-table
  direct map, removal costs O(1) per id.

IVF needs training. It is trained when the catalog crosses ``exact_max`` (on all
its centroids) and re-trained when the catalog has grown ``retrain_growth``
times since, because longer inverted lists make every probe slower. Shrinking
below half of ``exact_max`` goes back to exact search. Everything is
deterministic for a given set of (id, centroid) pairs: a rebuild from the
database reproduces the same index.

With a GPU build of FAISS and a visible GPU (``device="auto"`` or ``"cuda"``), a
GPU replica answers searches; the CPU index stays the mutable system of record
(GPU indexes cannot remove ids) and the replica is re-cloned lazily after a
change. Results are the same up to floating-point ties.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import faiss
import numpy as np

from app.index.errors import DeviceUnavailableError, DimensionMismatchError, SnapshotError

__all__ = ["CentroidIndex", "IvfParams", "default_ivf_params", "gpu_available"]

# GPU FAISS searches return at most this many neighbours per query.
GPU_MAX_K = 2048
# Threads for k-means, as configured when the module was imported (OMP_NUM_THREADS).
_TRAIN_THREADS = faiss.omp_get_max_threads()
# A filtered search whose allowed tracks hold at most this many values (tracks x d)
# scores them directly instead of scanning the index with an id selector.
SUBSET_SCAN_VALUES = 8_000_000
# An IVF search scans at least this many tracks per neighbour asked for.
MIN_SCAN_PER_RESULT = 16


def gpu_available() -> bool:
    """True when FAISS was built with GPU support and sees at least one GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@dataclass(frozen=True)
class IvfParams:
    """Shape of an IVF index: ``nlist`` cells, ``nprobe`` of them visited per query."""

    nlist: int
    nprobe: int


def default_ivf_params(n_tracks: int) -> IvfParams:
    """nlist ~ 4 sqrt(n) (a power of two); nprobe = nlist / 8.

    A 1,000-track shortlist reaches into many cells, so the probe share must
    be far larger than for top-10 search: on clustered catalogs 1/8 of the
    cells gives recall@1000 around 0.97 (see ``bench/bench_search.py``).
    """
    nlist = 2 ** round(math.log2(max(4.0 * math.sqrt(max(n_tracks, 1)), 64.0)))
    nlist = min(nlist, 65536)
    return IvfParams(nlist=nlist, nprobe=max(1, nlist // 8))


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise DimensionMismatchError(
            f"centroids of shape {vectors.shape} for an index of dimension {dim}"
        )
    return vectors


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class CentroidIndex:
    """Exact-then-IVF inner-product index of normalised track centroids.

    Parameters
    ----------
    dim
        Embedding dimension.
    exact_max
        Largest catalog searched exactly.
    ivf
        IVF shape to use above ``exact_max``; ``None`` derives it from the
        catalog size at training time (:func:`default_ivf_params`).
    retrain_growth
        Re-train the IVF cells when the catalog has grown this many times.
    min_scan_per_result
        An IVF search visits enough cells to scan at least this many tracks per
        neighbour asked for (on top of ``nprobe``).
    device
        ``"auto"`` (GPU replica when available), ``"cpu"`` or ``"cuda"``.
    seed
        k-means seed.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 100_000,
        ivf: IvfParams | None = None,
        retrain_growth: float = 4.0,
        min_scan_per_result: float = MIN_SCAN_PER_RESULT,
        device: str = "auto",
        seed: int = 1234,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
        if device == "cuda" and not gpu_available():
            raise DeviceUnavailableError(
                "device='cuda' but FAISS has no GPU support or sees "
                "no GPU (install faiss-gpu on a CUDA machine)"
            )
        self.dim = int(dim)
        self.exact_max = int(exact_max)
        self.ivf_params = ivf
        self.retrain_growth = float(retrain_growth)
        self.min_scan_per_result = float(min_scan_per_result)
        self.seed = int(seed)
        self.use_gpu = device != "cpu" and gpu_available()
        self._index: faiss.Index = self._new_flat()
        self._trained_on = 0
        self._gpu_replica: faiss.Index | None = None
        self._gpu_resources = None
        self._gpu_lock = threading.Lock()

    # -- state -------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"ivf"`` (approximate)."""
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self.kind == "ivf" else None

    @property
    def nlist(self) -> int | None:
        return int(self._index.nlist) if self.kind == "ivf" else None

    def set_nprobe(self, nprobe: int) -> None:
        """Trade speed for recall on an IVF index (no effect on exact search)."""
        if self.kind == "ivf":
            self._index.nprobe = int(min(max(1, nprobe), self._index.nlist))
            self._gpu_replica = None

    @property
    def nbytes(self) -> int:
        """Approximate memory of the index: vectors, ids and id maps."""
        per_vector = 4 * self.dim + 8  # float32 vector + int64 id
        per_map = 48  # hash-map entry of the id -> position map (IDMap2 / direct map)
        cells = (self.nlist or 0) * 4 * self.dim
        return self.ntotal * (per_vector + per_map) + cells

    # -- mutation ----------------------------------------------------------------------
    def add(self, ids: np.ndarray, centroids: np.ndarray) -> None:
        """Add tracks (ids must not be present); centroids are normalised here."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = _unit_rows(_as_matrix(centroids, self.dim))
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} centroids")
        if len(ids) == 0:
            return
        total = self.ntotal + len(ids)
        if (
            self.kind == "flat"
            and total > self.exact_max
            or self.kind == "ivf"
            and total > self.retrain_growth * self._trained_on
        ):
            old_ids, old_vectors = self.contents()
            self._train_ivf(np.concatenate([old_ids, ids]), np.vstack([old_vectors, vectors]))
        else:
            self._index.add_with_ids(vectors, ids)
        self._gpu_replica = None

    def remove(self, ids: np.ndarray) -> int:
        """Remove tracks by id; returns how many were present."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0 or self.ntotal == 0:
            return 0
        # The IVF hash-table direct map removes by explicit id list (O(1) each); the
        # flat index scans its ids once and asks a hashed set.
        selector = (faiss.IDSelectorArray if self.kind == "ivf" else faiss.IDSelectorBatch)(
            len(ids), faiss.swig_ptr(ids)
        )
        removed = int(self._index.remove_ids(selector))
        if removed:
            self._gpu_replica = None
            if self.kind == "ivf" and self.ntotal < self.exact_max // 2:
                kept_ids, kept_vectors = self.contents()
                self._index = self._new_flat()
                self._trained_on = 0
                self._index.add_with_ids(kept_vectors, kept_ids)
        return removed

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, normalised centroids) of every indexed track, sorted by id."""
        if self.kind == "flat":
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            flat = faiss.downcast_index(self._index.index)
            vectors = faiss.rev_swig_ptr(flat.get_xb(), self.ntotal * self.dim)
            vectors = np.array(vectors, dtype=np.float32).reshape(self.ntotal, self.dim)
        else:
            invlists = self._index.invlists
            parts_ids, parts_vectors = [], []
            for cell in range(self._index.nlist):
                size = invlists.list_size(cell)
                if size == 0:
                    continue
                parts_ids.append(np.array(faiss.rev_swig_ptr(invlists.get_ids(cell), size)))
                codes = faiss.rev_swig_ptr(invlists.get_codes(cell), size * invlists.code_size)
                parts_vectors.append(
                    np.frombuffer(bytes(codes), np.float32).reshape(size, self.dim)
                )
            if not parts_ids:
                return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
            ids, vectors = np.concatenate(parts_ids), np.vstack(parts_vectors)
        order = np.argsort(ids, kind="stable")
        return ids[order].astype(np.int64), vectors[order]

    def _new_flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _train_ivf(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        # Sorting by id makes the training set, hence the cells, independent of
        # the order in which tracks arrived.
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], np.ascontiguousarray(vectors[order])
        params = self.ivf_params or default_ivf_params(len(ids))
        nlist = min(params.nlist, max(1, len(ids) // 39))  # k-means wants >= 39 points/cell
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True  # centroids live on the sphere, so should the cells
        index.cp.niter = 12
        index.cp.seed = self.seed
        index.cp.max_points_per_centroid = 64  # a 64-per-cell sample trains as well, faster
        faiss.omp_set_num_threads(_TRAIN_THREADS)  # k-means does use every core
        index.train(vectors)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.add_with_ids(vectors, ids)
        index.nprobe = min(params.nprobe * nlist // params.nlist or 1, nlist)
        self._index = index
        self._trained_on = len(ids)

    # -- search ------------------------------------------------------------------------
    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` tracks whose centroids are closest to ``query`` (cosine).

        Parameters
        ----------
        query
            (d,) query centroid; normalised here.
        k
            Number of neighbours wanted.
        allowed
            Optional sorted int64 array of the track ids that may be returned
            (the tracks passing the metadata filters). The search then returns
            ``min(k, len(allowed ∩ index))`` ids: filtering happens inside FAISS
            (an id selector), and on IVF the probe count grows with the
            filter's selectivity until enough tracks qualify.

        Returns
        -------
        ids, similarities
            int64 ids and float32 cosine similarities, best first.
        """
        q = _unit_rows(_as_matrix(query, self.dim))
        # FAISS parallelises a search over queries, so one query uses one thread
        # anyway; with more, the idle OpenMP workers spin at the barrier and steal
        # the cores the Numba rerank needs next (measured: latencies quantised to
        # scheduler ticks of 4 ms). The setting is per calling thread.
        faiss.omp_set_num_threads(1)
        n = self.ntotal if allowed is None else min(len(allowed), self.ntotal)
        k = min(int(k), n)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if allowed is not None and len(allowed) * self.dim <= SUBSET_SCAN_VALUES:
            return self._search_subset(q[0], k, allowed)
        if self.use_gpu and k <= GPU_MAX_K:
            found = self._search_gpu(q, k, allowed)
            if found is not None:
                return found
        if allowed is None:
            if self.kind == "ivf":
                params = faiss.SearchParametersIVF(nprobe=self._probes_for(k))
                sims, ids = self._index.search(q, k, params=params)
            else:
                sims, ids = self._index.search(q, k)
            return _valid(ids[0], sims[0])
        selector, _keepalive = _selector(allowed)
        if self.kind == "flat":
            sims, ids = self._index.search(q, k, params=faiss.SearchParameters(sel=selector))
            return _valid(ids[0], sims[0])
        # IVF: the probed cells hold about nprobe/nlist of the tracks, of which the
        # filter keeps a share `selectivity`; probe enough cells to expect k of them,
        # then all cells if the guess fell short.
        selectivity = max(len(allowed) / max(self.ntotal, 1), 1e-9)
        nprobe = min(self._index.nlist, math.ceil(self._probes_for(k) / min(1.0, selectivity)))
        while True:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=int(nprobe))
            sims, ids = self._index.search(q, k, params=params)
            found_ids, found_sims = _valid(ids[0], sims[0])
            if len(found_ids) >= k or nprobe >= self._index.nlist:
                return found_ids, found_sims
            nprobe = self._index.nlist

    def _search_subset(
        self, q: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search among few allowed tracks: fetch their centroids by id, score all.

        A selective filter (a brief that 1% of a million tracks satisfy) would
        otherwise make IVF probe every cell to find enough qualifying tracks.
        """
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        sims = self._index.reconstruct_batch(allowed) @ q
        if k < len(allowed):
            top = np.argpartition(-sims, k - 1)[:k]
        else:
            top = np.arange(len(allowed))
        # Best first; equal similarities by ascending id, as a flat scan returns them.
        order = top[np.lexsort((allowed[top], -sims[top]))]
        return allowed[order], sims[order].astype(np.float32)

    def _probes_for(self, k: int) -> int:
        """Cells to visit for ``k`` neighbours: at least ``nprobe``, and enough to
        scan ``min_scan_per_result * k`` tracks, since the ``k`` nearest spread
        over more cells as ``k`` grows (a 1,000-track shortlist in a small catalog
        would otherwise look at fewer tracks than it must return)."""
        mean_cell = max(self.ntotal / self._index.nlist, 1.0)
        needed = math.ceil(self.min_scan_per_result * k / mean_cell)
        return int(min(self._index.nlist, max(self._index.nprobe, needed)))

    def _search_gpu(
        self, q: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Search the GPU replica; over-fetch and filter when ``allowed`` is given.

        Returns None when the over-fetch cannot find ``k`` qualifying tracks
        within the GPU's k limit (the CPU index, with an id selector, then answers).
        """
        replica = self._replica()
        if allowed is None:
            sims, ids = replica.search(q, k)
            return _valid(ids[0], sims[0])
        selectivity = max(len(allowed) / max(self.ntotal, 1), 1e-9)
        fetch = min(self.ntotal, GPU_MAX_K, math.ceil(1.5 * k / selectivity))
        while True:
            sims, ids = replica.search(q, fetch)
            found_ids, found_sims = _valid(ids[0], sims[0])
            keep = np.isin(found_ids, allowed, assume_unique=False)
            if keep.sum() >= k:
                return found_ids[keep][:k], found_sims[keep][:k]
            if fetch >= min(self.ntotal, GPU_MAX_K):
                return None
            fetch = min(self.ntotal, GPU_MAX_K, fetch * 4)

    def _replica(self) -> faiss.Index:
        with self._gpu_lock:
            if self._gpu_replica is None:
                if self._gpu_resources is None:
                    self._gpu_resources = faiss.StandardGpuResources()
                self._gpu_replica = faiss.index_cpu_to_gpu(self._gpu_resources, 0, self._index)
            return self._gpu_replica

    # -- persistence -------------------------------------------------------------------
    def serialize(self) -> np.ndarray:
        """The CPU index as a uint8 array (FAISS's own format)."""
        return faiss.serialize_index(self._index)

    def restore(self, blob: np.ndarray, trained_on: int) -> None:
        """Replace the content with a serialised index (from :meth:`serialize`)."""
        index = faiss.deserialize_index(np.ascontiguousarray(blob, dtype=np.uint8))
        if index.d != self.dim:
            raise DimensionMismatchError(
                f"serialised index of dimension {index.d}, expected {self.dim}"
            )
        if isinstance(index, faiss.IndexIVF):
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
        elif not isinstance(index, faiss.IndexIDMap2):
            raise SnapshotError(f"unexpected serialised index type {type(index).__name__}")
        self._index = index
        self._trained_on = int(trained_on)
        self._gpu_replica = None

    @property
    def trained_on(self) -> int:
        """Catalog size the IVF cells were trained on (0 for exact search)."""
        return self._trained_on


def _valid(ids: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = ids >= 0  # FAISS pads missing results with -1
    return ids[keep].astype(np.int64), sims[keep].astype(np.float32)


# Bitmaps beyond this size fall back to a hashed id set.
_MAX_BITMAP_BYTES = 64 * 1024**2


def _selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray]:
    """An id selector over ``allowed``, and the array it points into (keep it alive).

    Track ids are dense database keys, so a bitmap (one bit per id up to the
    largest, O(1) membership) is small; sparse huge ids use a hashed batch.
    """
    allowed = np.ascontiguousarray(allowed, dtype=np.int64)
    if len(allowed) == 0:
        empty = np.zeros(1, np.int64)
        return faiss.IDSelectorBatch(0, faiss.swig_ptr(empty)), empty
    top = int(allowed.max())
    if allowed.min() >= 0 and (top + 8) // 8 <= _MAX_BITMAP_BYTES:
        bits = np.zeros(top + 1, dtype=bool)
        bits[allowed] = True
        bitmap = np.packbits(bits, bitorder="little")
        return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap  # n in bytes
    return faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed)), allowed
