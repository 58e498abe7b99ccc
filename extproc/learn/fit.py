"""Fitting a learned scorer from outcome rows (needs the `train` extra: scikit-learn/scipy).

The model predicts the strong tier's quality gain over the weak tier. It is fitted as two
ridge heads on the same features, one per tier: paired rows feed both heads, single-tier rows
(what feedback produces) feed one. Ridge is linear in its targets, so for paired rows the
difference of the heads equals one ridge fitted on ``q_strong − q_weak``; that is what is
fitted when every row is paired.

Ridge is solved in its dual form (an n × n kernel, one eigendecomposition per fold and word
weight), which is cheap for the few thousand rows an operator labels and makes every ridge
strength in the grid cost one matrix product. The strength and the word group's weight are
chosen by an inner k-fold on APGR; the figures the trainer prints come from an outer k-fold
around those choices (nested), so they are not tuned on the rows they score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from extproc.learn.curve import routing_curve
from extproc.learn.features import FeatureSpec, dense_features, hash_text
from extproc.learn.model import LearnedScorer

try:
    import scipy.sparse as sp
    from sklearn.model_selection import KFold
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "training needs the train extra: pip install 'extproc-router[train]'"
    ) from exc

FloatArray = npt.NDArray[np.float64]
ALPHAS: tuple[float, ...] = (0.25, 1.0, 4.0)
#: weight of the word group beside the character group (1.0 = equal); character n-grams
#: carry most of the signal on some traffic and words on other, so the trainer picks
WORD_SCALES: tuple[float, ...] = (0.35, 1.0)
#: scale of a standardised dense feature (length, lines) beside a unit-norm n-gram group;
#: there are few, so they are barely penalised and length stays usable where it matters
DENSE_FACTOR = 3.0
#: the whole embedding block weighs like one n-gram group: each of its d dimensions gets
#: EMBED_FACTOR / sqrt(d)
EMBED_FACTOR = 1.0
MAX_KERNEL_ROWS = 20000  # n × n float64: 3.2 GB at this size


@dataclass(frozen=True, slots=True)
class Targets:
    """Training targets: each head's rows (indices into the texts) and their quality."""

    weak_rows: npt.NDArray[np.intp]
    weak_q: FloatArray
    strong_rows: npt.NDArray[np.intp]
    strong_q: FloatArray

    @property
    def paired_only(self) -> bool:
        return np.array_equal(self.weak_rows, self.strong_rows)

    def subset(self, keep: npt.NDArray[np.intp]) -> Targets:
        """Rows whose text index is in `keep`."""
        w = np.isin(self.weak_rows, keep)
        s = np.isin(self.strong_rows, keep)
        return Targets(self.weak_rows[w], self.weak_q[w], self.strong_rows[s], self.strong_q[s])


class FeatureTable:
    """Each text's hashed indices and dense features, computed once and reused by every fold."""

    def __init__(self, texts: Sequence[str], spec: FeatureSpec,
                 vectors: npt.NDArray[np.floating[Any]] | None = None) -> None:
        """`vectors`: the texts' sentence embeddings, for a spec with `embedding_dim`."""
        self.spec = spec
        hashed = [hash_text(t, spec) for t in texts]
        self.indices = [h[0].astype(np.intp) for h in hashed]
        self.sizes = [h[1] for h in hashed]
        text_dense = np.array([dense_features(t, spec) for t in texts], dtype=np.float64)
        text_dense = text_dense.reshape(len(texts), len(spec.text_dense_names))
        factors = [DENSE_FACTOR] * text_dense.shape[1]
        if spec.embedding_dim:
            if vectors is None or vectors.shape != (len(texts), spec.embedding_dim):
                raise ValueError(f"need one {spec.embedding_dim}-dim embedding per text")
            text_dense = np.hstack([text_dense, vectors.astype(np.float64)])
            factors += [EMBED_FACTOR / math.sqrt(spec.embedding_dim)] * spec.embedding_dim
        self.dense = text_dense
        self.factors = np.array(factors, dtype=np.float64)
        self.n = len(texts)

    def idf(self, rows: npt.NDArray[np.intp]) -> FloatArray:
        """Smoothed idf over `rows`: log((1 + n) / (1 + df)) + 1."""
        df = np.zeros(self.spec.dim, dtype=np.float64)
        for i in rows.tolist():
            df[np.unique(self.indices[i])] += 1.0
        return np.log((1.0 + rows.size) / (1.0 + df)) + 1.0

    def dense_stats(self, rows: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray]:
        block = self.dense[rows]
        mean = block.mean(axis=0)
        std = block.std(axis=0)
        scale = np.where(std > 1e-9, std, 1.0) / self.factors
        return mean, scale

    def matrix(
        self, rows: npt.NDArray[np.intp], idf: FloatArray, mean: FloatArray, scale: FloatArray,
        word_scale: float = 1.0,
    ) -> sp.csr_matrix:
        """The design matrix of `rows`: n-gram groups (unit pseudo-norm each) + dense block."""
        dim = self.spec.dim
        r_parts, c_parts, v_parts = [], [], []
        for k, i in enumerate(rows.tolist()):
            idx = self.indices[i]
            if not idx.size:
                continue
            n_words, _ = self.sizes[i]
            g = idf[idx]
            vals = g.copy()
            if n_words:
                vals[:n_words] *= word_scale / (math.sqrt(float(g[:n_words] @ g[:n_words])) or 1.0)
            if idx.size > n_words:
                vals[n_words:] /= math.sqrt(float(g[n_words:] @ g[n_words:])) or 1.0
            r_parts.append(np.full(idx.size, k, dtype=np.intp))
            c_parts.append(idx)
            v_parts.append(vals)
        n_dense = self.dense.shape[1]
        dense = (self.dense[rows] - mean) / scale
        r_parts.append(np.repeat(np.arange(rows.size, dtype=np.intp), n_dense))
        c_parts.append(np.tile(np.arange(dim, dim + n_dense, dtype=np.intp), rows.size))
        v_parts.append(dense.ravel())
        return sp.csr_matrix(
            (np.concatenate(v_parts), (np.concatenate(r_parts), np.concatenate(c_parts))),
            shape=(rows.size, dim + n_dense),
        )


class _DualRidge:
    """Ridge with an unpenalised intercept, solved through the centred kernel."""

    def __init__(self, x: sp.csr_matrix) -> None:
        if x.shape[0] > MAX_KERNEL_ROWS:
            raise ValueError(f"at most {MAX_KERNEL_ROWS} training rows per head")
        self.x = x
        k = (x @ x.T).toarray()
        self.col_mean = k.mean(axis=0)
        centred = k - self.col_mean[None, :] - self.col_mean[:, None] + self.col_mean.mean()
        self.eigval, self.eigvec = np.linalg.eigh(centred)
        self.eigval = np.clip(self.eigval, 0.0, None)

    def solve(self, y: FloatArray, alpha: float) -> tuple[FloatArray, float]:
        """(primal weights, intercept) for targets `y` and strength `alpha`."""
        y_mean = float(y.mean())
        proj = self.eigvec.T @ (y - y_mean)
        dual = self.eigvec @ (proj / (self.eigval + alpha))
        dual -= dual.mean()  # weights = Xᵀ H dual, H the centring matrix
        weights = np.asarray(self.x.T @ dual).ravel()
        intercept = y_mean - float(np.asarray(self.x.mean(axis=0)).ravel() @ weights)
        return weights, intercept


@dataclass(frozen=True, slots=True)
class Hyper:
    """The trainer's choices: ridge strength and the word group's weight."""

    alpha: float
    word_scale: float


def grid(alphas: Sequence[float] = ALPHAS,
         word_scales: Sequence[float] = WORD_SCALES) -> tuple[Hyper, ...]:
    return tuple(Hyper(a, w) for w in word_scales for a in alphas)


@dataclass(frozen=True, slots=True)
class _Fold:
    """Heads fitted on one training subset, ready to score any rows for each alpha."""

    idf: FloatArray
    mean: FloatArray
    scale: FloatArray
    word_scale: float
    heads: tuple[tuple[_DualRidge, FloatArray, float], ...]  # (solver, targets, sign)


def _prepare(table: FeatureTable, targets: Targets, word_scale: float) -> _Fold:
    rows = np.union1d(targets.weak_rows, targets.strong_rows)
    idf = table.idf(rows)
    mean, scale = table.dense_stats(rows)

    def solver(r: npt.NDArray[np.intp]) -> _DualRidge:
        return _DualRidge(table.matrix(r, idf, mean, scale, word_scale))

    if targets.paired_only:
        heads: tuple[tuple[_DualRidge, FloatArray, float], ...] = (
            (solver(targets.strong_rows), targets.strong_q - targets.weak_q, 1.0),
        )
    else:
        heads = tuple(
            (solver(r), q, sign)
            for r, q, sign in (
                (targets.strong_rows, targets.strong_q, 1.0),
                (targets.weak_rows, targets.weak_q, -1.0),
            )
            if r.size
        )
    return _Fold(idf, mean, scale, word_scale, heads)


def _weights(fold: _Fold, alpha: float) -> tuple[FloatArray, float]:
    total: FloatArray | None = None
    bias = 0.0
    for solver, y, sign in fold.heads:
        w, b = solver.solve(y, alpha)
        total = sign * w if total is None else total + sign * w
        bias += sign * b
    assert total is not None
    return total, bias


def _predict(
    table: FeatureTable, fold: _Fold, rows: npt.NDArray[np.intp], alpha: float
) -> FloatArray:
    w, b = _weights(fold, alpha)
    x = table.matrix(rows, fold.idf, fold.mean, fold.scale, fold.word_scale)
    return np.asarray(x @ w).ravel() + b


def _apgr(scores: FloatArray, q_weak: FloatArray, q_strong: FloatArray) -> float:
    curve = routing_curve(scores, q_weak, q_strong)
    return 0.5 if curve is None else curve.apgr


@dataclass(frozen=True, slots=True)
class Paired:
    """The paired rows among the texts (the only rows a routing curve can score)."""

    rows: npt.NDArray[np.intp]
    q_weak: FloatArray
    q_strong: FloatArray


def _paired(targets: Targets) -> Paired:
    common, wi, si = np.intersect1d(targets.weak_rows, targets.strong_rows, return_indices=True)
    return Paired(common, targets.weak_q[wi], targets.strong_q[si])


def select(
    table: FeatureTable, targets: Targets, folds: int, seed: int,
    choices: Sequence[Hyper] | None = None,
) -> Hyper:
    """The choice with the best mean APGR over an inner k-fold (paired rows scored)."""
    options = tuple(choices or grid())
    paired = _paired(targets)
    if paired.rows.size < 2 * folds or len(options) == 1:
        return Hyper(1.0, 1.0) if choices is None else options[0]
    totals = np.zeros(len(options))
    splitter = KFold(folds, shuffle=True, random_state=seed)
    scales = sorted({h.word_scale for h in options})
    for _, test_pos in splitter.split(paired.rows):
        test = paired.rows[test_pos]
        train_rows = np.setdiff1d(np.arange(table.n), test)
        sub = targets.subset(train_rows)
        for word_scale in scales:
            fold = _prepare(table, sub, word_scale)
            for k, hyper in enumerate(options):
                if hyper.word_scale == word_scale:
                    pred = _predict(table, fold, test, hyper.alpha)
                    totals[k] += _apgr(pred, paired.q_weak[test_pos], paired.q_strong[test_pos])
    return options[int(np.argmax(totals))]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Out-of-fold scores of the paired rows (order of `paired.rows`) and the choices made."""

    paired: Paired
    scores: FloatArray
    choices: tuple[Hyper, ...]


def cross_validate(
    table: FeatureTable, targets: Targets, folds: int = 5, seed: int = 0,
    choices: Sequence[Hyper] | None = None,
) -> CrossValidation | None:
    """Nested k-fold: each outer fold makes its choices on its own training rows."""
    paired = _paired(targets)
    if paired.rows.size < 2 * folds:
        return None
    scores = np.zeros(paired.rows.size)
    chosen = []
    splitter = KFold(folds, shuffle=True, random_state=seed)
    for _, test_pos in splitter.split(paired.rows):
        test = paired.rows[test_pos]
        sub = targets.subset(np.setdiff1d(np.arange(table.n), test))
        hyper = select(table, sub, max(2, folds - 2), seed + 1, choices)
        chosen.append(hyper)
        scores[test_pos] = _predict(table, _prepare(table, sub, hyper.word_scale), test,
                                    hyper.alpha)
    return CrossValidation(paired, scores, tuple(chosen))


def fit(table: FeatureTable, targets: Targets, hyper: Hyper, threshold: float) -> LearnedScorer:
    """The final model on all rows, with `threshold` as its calibrated default."""
    fold = _prepare(table, targets, hyper.word_scale)
    w, bias = _weights(fold, hyper.alpha)
    dim = table.spec.dim
    sparse_w = w[:dim]
    return LearnedScorer(
        spec=table.spec,
        weights=(sparse_w * fold.idf).astype(np.float32),
        idf=fold.idf.astype(np.float32),
        dense_mean=fold.mean,
        dense_scale=fold.scale,
        dense_weights=w[dim:].astype(np.float64),
        bias=float(bias),
        threshold=float(threshold),
        word_scale=hyper.word_scale,
    )


def threshold_for_share(scores: FloatArray, strong_share: float) -> float:
    """A threshold that sends about `strong_share` of these scores to the strong tier."""
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError("strong_share must be in [0, 1]")
    if scores.size == 0:
        return 0.0
    if strong_share <= 0.0:
        return float(np.max(scores)) + 1.0
    ordered = np.sort(scores)[::-1]
    k = max(1, min(scores.size, round(strong_share * scores.size)))
    return float(ordered[k - 1])
