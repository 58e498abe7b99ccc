"""Bounded, scoped, in-memory vector index: the vector side of the semantic cache.

Entries live in one numpy matrix per scope (tenant, user, ""), rows packed at the front:
`search` is one matrix-vector product over that scope's rows only, `remove` moves the scope's
last row into the hole (O(1)), and a scope's matrix doubles / halves with its size. Totals
are bounded by `max_entries` and `max_scopes`; going past either raises `IndexFull`: the
cache policy around the index evicts first. Scores are cosine similarities (vectors are
normalised on the way in). Not thread-safe: use it from the event loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from extproc.semantic.embedder import FloatArray


class IndexFull(RuntimeError):
    """`max_entries` or `max_scopes` reached."""


class _Scope:
    __slots__ = ("keys", "matrix", "rows")

    def __init__(self, dim: int, capacity: int) -> None:
        self.matrix: FloatArray = np.zeros((capacity, dim), dtype=np.float32)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}

    def resize(self, capacity: int) -> None:
        n = len(self.keys)
        grown = np.zeros((capacity, self.matrix.shape[1]), dtype=np.float32)
        grown[:n] = self.matrix[:n]
        self.matrix = grown


def _unit(vector: npt.ArrayLike, dim: int) -> FloatArray:
    vec = np.asarray(vector, dtype=np.float32).reshape(-1)
    if vec.shape[0] != dim:
        raise ValueError(f"vector has {vec.shape[0]} dims, index has {dim}")
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm):
        raise ValueError("vector has non-finite values")
    return vec / norm if norm > 0 else vec


class VectorIndex:
    """Cosine nearest-neighbour search over at most `max_entries` keyed vectors.

    Keys are unique across scopes; `add` with a key already present replaces its vector
    (and scope). `initial_capacity` is the first matrix size of a new scope.
    """

    def __init__(
        self, dim: int, max_entries: int, max_scopes: int = 1024, initial_capacity: int = 16
    ) -> None:
        if dim < 1 or max_entries < 1 or max_scopes < 1 or initial_capacity < 1:
            raise ValueError("dim, max_entries, max_scopes and initial_capacity must be >= 1")
        self.dim = dim
        self.max_entries = max_entries
        self.max_scopes = max_scopes
        self.initial_capacity = min(initial_capacity, max_entries)
        self._scopes: dict[str, _Scope] = {}
        self._scope_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._scope_of)

    def __contains__(self, key: object) -> bool:
        return key in self._scope_of

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._scope_of))

    @property
    def scopes(self) -> int:
        return len(self._scopes)

    def scope_len(self, scope: str = "") -> int:
        s = self._scopes.get(scope)
        return 0 if s is None else len(s.keys)

    def scope_of(self, key: str) -> str | None:
        return self._scope_of.get(key)

    @property
    def nbytes(self) -> int:
        """Bytes held by the scope matrices."""
        return sum(s.matrix.nbytes for s in self._scopes.values())

    def get(self, key: str) -> FloatArray | None:
        """A copy of the stored (normalised) vector of `key`."""
        scope = self._scope_of.get(key)
        if scope is None:
            return None
        s = self._scopes[scope]
        out: FloatArray = s.matrix[s.rows[key]].copy()
        return out

    def add(self, key: str, vector: npt.ArrayLike, scope: str = "") -> None:
        """Insert or replace `key`. Raises `IndexFull`, or `ValueError` for a bad vector."""
        vec = _unit(vector, self.dim)
        old_scope = self._scope_of.get(key)
        if old_scope == scope:
            s = self._scopes[scope]
            s.matrix[s.rows[key]] = vec
            return
        if old_scope is None and len(self._scope_of) >= self.max_entries:
            raise IndexFull(f"index holds max_entries={self.max_entries} vectors")
        s_new = self._scopes.get(scope)
        if s_new is None and len(self._scopes) >= self.max_scopes:
            moving_frees_one = old_scope is not None and self.scope_len(old_scope) == 1
            if not moving_frees_one:
                raise IndexFull(f"index holds max_scopes={self.max_scopes} scopes")
        if old_scope is not None:
            self.remove(key)
        s_new = self._scopes.get(scope)
        if s_new is None:
            s_new = self._scopes[scope] = _Scope(self.dim, self.initial_capacity)
        n = len(s_new.keys)
        if n == s_new.matrix.shape[0]:
            s_new.resize(min(2 * n, self.max_entries))
        s_new.matrix[n] = vec
        s_new.keys.append(key)
        s_new.rows[key] = n
        self._scope_of[key] = scope

    def remove(self, key: str) -> None:
        """Drop `key` (O(1)); a key that is not there is ignored."""
        scope = self._scope_of.pop(key, None)
        if scope is None:
            return
        s = self._scopes[scope]
        row = s.rows.pop(key)
        last = len(s.keys) - 1
        if row != last:
            moved = s.keys[last]
            s.matrix[row] = s.matrix[last]
            s.keys[row] = moved
            s.rows[moved] = row
        s.keys.pop()
        if not s.keys:
            del self._scopes[scope]
        else:
            capacity = s.matrix.shape[0]
            if capacity > self.initial_capacity and len(s.keys) <= capacity // 4:
                s.resize(max(capacity // 2, self.initial_capacity))

    def search(
        self, vector: npt.ArrayLike, min_score: float = -1.0, scope: str = ""
    ) -> tuple[str, float] | None:
        """The closest entry of `scope` with cosine >= `min_score`, or None."""
        s = self._scopes.get(scope)
        if s is None:
            return None
        sims = s.matrix[: len(s.keys)] @ _unit(vector, self.dim)
        row = int(np.argmax(sims))
        score = float(sims[row])
        return (s.keys[row], score) if score >= min_score else None

    def search_k(
        self, vector: npt.ArrayLike, k: int, min_score: float = -1.0, scope: str = ""
    ) -> list[tuple[str, float]]:
        """Up to `k` entries of `scope` with cosine >= `min_score`, best first."""
        s = self._scopes.get(scope)
        if s is None or k < 1:
            return []
        sims = s.matrix[: len(s.keys)] @ _unit(vector, self.dim)
        k = min(k, sims.shape[0])
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(s.keys[i], float(sims[i])) for i in top if sims[i] >= min_score]

    def clear(self, scope: str | None = None) -> None:
        """Drop everything, or one scope."""
        if scope is None:
            self._scopes.clear()
            self._scope_of.clear()
            return
        s = self._scopes.pop(scope, None)
        if s is not None:
            for key in s.keys:
                del self._scope_of[key]


def single_thread_numpy_blas() -> bool:
    """Make numpy's OpenBLAS single-threaded, process-wide (torch's own MKL is untouched).

    A 10k x 384 search is ~0.7 ms on one thread; with OpenBLAS' default thread pool on a busy
    2-core machine it was measured at 0.4-16 ms (p99 up to 70 ms): the pool's threads fight
    the event loop and the embedding worker. Needs threadpoolctl (installed with the
    `semantic` extra, via scikit-learn); returns False, changing nothing, without it.
    Setting OPENBLAS_NUM_THREADS=1 before numpy is imported does the same.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return False
    importlib.import_module("numpy")
    controller = threadpoolctl.ThreadpoolController().select(internal_api="openblas")
    controller.limit(limits=1)
    return True


__all__ = ["IndexFull", "VectorIndex", "single_thread_numpy_blas"]
