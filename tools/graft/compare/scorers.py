"""Per-row metric scorers: each task's metrics as functions of row weights, so a block of
bootstrap resamples is one ``weights @ matrix``; at weight 1 for every row each equals
scikit-learn's metric on the full sample.

* binary (``y`` 0/1, ``p`` = probability of the positive class): ``roc_auc`` (the rank
  statistic on weights: scores sorted once, tied scores grouped, every resample's AUC a
  cumulative sum over the groups, exact mid-rank ties), ``pr_auc`` (average precision, from
  the same tied-score groups), ``log_loss``, ``brier``, and at the decision threshold
  ``accuracy``, ``precision``, ``recall``, ``f1``; with sensitive group codes, each column's
  ``fairness.<column>.demographic_parity_difference`` and ``...equalized_odds_difference``;
* multiclass (``y`` = class index, ``p`` = one probability column per class): ``log_loss``,
  ``accuracy`` (arg-max class), ``macro_f1``/``macro_precision``/``macro_recall`` (mean over
  the classes present in the resample's labels or predictions, as scikit-learn averages) and
  per class ``precision.<class>``, ``recall.<class>``, ``f1.<class>``;
* regression (``y`` = target, ``p`` = prediction): ``rmse``, ``mae``, ``r2`` and each
  configured quantile of the absolute error (``abs_error_q90``).

Every count-based metric is a function of weighted sums, so each scorer keeps its per-row
columns in one matrix (plus one gather of the weights in score order for the rank metrics, one
for error quantiles). :func:`rank_auc` and :func:`roc_curve` are the full-sample point values
the charts use. Which metrics a report shows is the task's choice; this module only knows how to
compute them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # probability clipping for log loss, as scikit-learn


class Scorer(Protocol):
    names: tuple[str, ...]

    def block(self, weights: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]: ...

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray: ...


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0 (scikit-learn's zero_division result)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _spread(rates: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per resample, the largest minus the smallest rate among the ``present`` groups (NaN: none)."""
    high = np.where(present, rates, -np.inf).max(axis=1)
    low = np.where(present, rates, np.inf).min(axis=1)
    return np.where(present.any(axis=1), high - low, np.nan)


def group_codes(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """A group column -> (code per row, the group names in sorted order)."""
    text = np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)
    names, codes = np.unique(text, return_inverse=True)
    return codes.astype(np.int64), tuple(str(n) for n in names)


class _Sums:
    """Per-row columns whose weighted sums many metrics share: one ``weights @ matrix`` per block."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.columns: list[np.ndarray] = []
        self.index: dict[str, slice] = {}

    def add(self, name: str, values: np.ndarray) -> None:
        values = values.reshape(self.rows, -1).astype(np.float64)
        at = sum(c.shape[1] for c in self.columns)
        self.index[name] = slice(at, at + values.shape[1])
        self.columns.append(values)

    def matrix(self) -> np.ndarray:
        return np.hstack(self.columns) if self.columns else np.zeros((self.rows, 0))


class BinaryScorer:
    """One binary classifier's probabilities: ranks, threshold decisions and per-row losses.

    ``groups``: sensitive column -> group code per row (see :func:`group_codes`), for the
    fairness gaps ``fairness.<column>.demographic_parity_difference`` (largest minus smallest
    selection rate among the groups) and ``fairness.<column>.equalized_odds_difference`` (the
    larger of the TPR and FPR spreads), as fairlearn defines them.
    """

    metrics = ("roc_auc", "log_loss", "accuracy", "brier", "pr_auc", "precision", "recall", "f1")
    GAPS = ("demographic_parity_difference", "equalized_odds_difference")

    def __init__(
        self,
        y: np.ndarray,
        p: np.ndarray,
        threshold: float = 0.5,
        groups: dict[str, np.ndarray] | None = None,
    ) -> None:
        y = np.asarray(y).astype(np.int64)
        p = np.asarray(p, dtype=np.float64)
        self.order = np.argsort(p, kind="mergesort")
        sorted_p = p[self.order]
        self.y_sorted = y[self.order].astype(np.float64)
        self.starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
        clipped = np.clip(p, EPS, 1 - EPS)
        predicted = (p >= threshold).astype(np.float64)
        yf = y.astype(np.float64)
        sums = _Sums(len(y))
        sums.add("log_loss", -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
        sums.add("brier", (p - y) ** 2)
        sums.add("accuracy", (predicted == yf).astype(np.float64))
        sums.add("tp", predicted * yf)
        sums.add("pp", predicted)
        sums.add("pos", yf)
        self.groups: list[str] = []
        for column, codes in (groups or {}).items():
            member = np.eye(int(codes.max()) + 1 if len(codes) else 0)[codes]  # (rows, groups)
            sums.add(f"{column}:n", member)
            sums.add(f"{column}:pp", member * predicted[:, None])
            sums.add(f"{column}:pos", member * yf[:, None])
            sums.add(f"{column}:tp", member * (predicted * yf)[:, None])
            self.groups.append(column)
        self.sums = sums
        self.matrix = sums.matrix()
        self.names = (*self.metrics, *(f"fairness.{c}.{gap}" for c in self.groups for gap in self.GAPS))

    def _group_sums(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted positives and negatives of each run of tied scores (ascending score)."""
        w = weights[:, self.order]
        pos = np.add.reduceat(w * self.y_sorted, self.starts, axis=1)
        neg = np.add.reduceat(w, self.starts, axis=1) - pos
        return pos, neg

    def auc(self, weights: np.ndarray) -> np.ndarray:
        pos, neg = self._group_sums(weights)
        return self._auc(pos, neg, np.cumsum(neg, axis=1))

    @staticmethod
    def _auc(pos: np.ndarray, neg: np.ndarray, cum_neg: np.ndarray) -> np.ndarray:
        below = cum_neg - neg  # negatives scored strictly lower
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        den = pos.sum(axis=1) * neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    @staticmethod
    def _average_precision(
        pos: np.ndarray, neg: np.ndarray, cum_pos: np.ndarray, cum_neg: np.ndarray
    ) -> np.ndarray:
        """scikit-learn's average precision: over the distinct thresholds, the recall gained
        times the precision there, from the same tied-score runs (and running sums) as the AUC."""
        positives, negatives = cum_pos[:, -1:], cum_neg[:, -1:]
        tp = positives - cum_pos + pos  # positives scored at or above each run
        predicted = tp + negatives - cum_neg + neg
        precision = _ratio(tp, predicted)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (pos * precision).sum(axis=1) / positives[:, 0]

    def block(self, weights: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
        """Every metric in ``metrics`` for each resample (a row of ``weights``)."""
        wanted = set(metrics)
        out: dict[str, np.ndarray] = {}
        if wanted & {"roc_auc", "pr_auc"}:
            pos, neg = self._group_sums(weights)
            cum_neg = np.cumsum(neg, axis=1)
            if "roc_auc" in wanted:
                out["roc_auc"] = self._auc(pos, neg, cum_neg)
            if "pr_auc" in wanted:
                out["pr_auc"] = self._average_precision(pos, neg, np.cumsum(pos, axis=1), cum_neg)
        s = weights @ self.matrix
        i = self.sums.index
        total = weights.sum(axis=1)
        for name in ("log_loss", "brier", "accuracy"):
            if name in wanted:
                out[name] = s[:, i[name]][:, 0] / total
        tp, pp, positives = s[:, i["tp"]][:, 0], s[:, i["pp"]][:, 0], s[:, i["pos"]][:, 0]
        if "precision" in wanted:
            out["precision"] = _ratio(tp, pp)
        if "recall" in wanted:
            out["recall"] = _ratio(tp, positives)
        if "f1" in wanted:
            out["f1"] = _ratio(2 * tp, pp + positives)
        for column in self.groups:
            dpd, eod = (f"fairness.{column}.{gap}" for gap in self.GAPS)
            if not wanted & {dpd, eod}:
                continue
            n, gpp = s[:, i[f"{column}:n"]], s[:, i[f"{column}:pp"]]
            gpos, gtp = s[:, i[f"{column}:pos"]], s[:, i[f"{column}:tp"]]
            if dpd in wanted:
                out[dpd] = _spread(_ratio(gpp, n), n > 0)
            if eod in wanted:
                negatives, fp = n - gpos, gpp - gtp
                tpr = _spread(_ratio(gtp, gpos), gpos > 0)
                fpr = _spread(_ratio(fp, negatives), negatives > 0)
                out[eod] = np.fmax(tpr, fpr)
        return {m: out[m] for m in metrics}

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        return self.block(weights, [metric])[metric]


class MulticlassScorer:
    """One multiclass classifier: ``y`` class indices, ``p`` an ``(rows, classes)`` probability matrix.

    Besides ``log_loss``, ``accuracy`` and the macro averages (over the classes present in the
    resample's labels or predictions, as scikit-learn averages), each class ``c`` of
    ``classes`` gets ``precision.c``, ``recall.c`` and ``f1.c`` (0 where undefined, as
    scikit-learn's zero_division).
    """

    metrics = ("log_loss", "accuracy", "macro_f1", "macro_precision", "macro_recall")
    PER_CLASS = ("precision", "recall", "f1")

    def __init__(self, y: np.ndarray, p: np.ndarray, classes: Sequence[str] | None = None) -> None:
        y = np.asarray(y).astype(np.int64)
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError("multiclass scores need one probability column per class")
        rows, count = p.shape
        if len(y) and (y.min() < 0 or y.max() >= count):
            raise ValueError(f"class indices must lie in 0..{count - 1}")
        predicted = p.argmax(axis=1)
        picked = np.clip(p[np.arange(rows), y], EPS, 1 - EPS)
        truth = np.eye(count)[y]
        guess = np.eye(count)[predicted]
        self.classes = tuple(classes) if classes is not None else tuple(str(c) for c in range(count))
        if len(self.classes) != count:
            raise ValueError(f"{len(self.classes)} class names for {count} probability columns")
        sums = _Sums(rows)
        sums.add("log_loss", -np.log(picked))
        sums.add("accuracy", (predicted == y).astype(np.float64))
        sums.add("tp", truth * guess)
        sums.add("support", truth)  # tp + fn
        sums.add("predicted", guess)  # tp + fp
        self.sums = sums
        self.matrix = sums.matrix()
        self.names = (*self.metrics, *(f"{m}.{c}" for m in self.PER_CLASS for c in self.classes))

    def block(self, weights: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
        s = weights @ self.matrix
        i = self.sums.index
        total = weights.sum(axis=1)
        tp, support, predicted = s[:, i["tp"]], s[:, i["support"]], s[:, i["predicted"]]
        present = (support + predicted) > 0
        per_class = {
            "precision": _ratio(tp, predicted),
            "recall": _ratio(tp, support),
            "f1": _ratio(2 * tp, support + predicted),
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            counted = present.sum(axis=1)
            out = {
                "log_loss": s[:, i["log_loss"]][:, 0] / total,
                "accuracy": s[:, i["accuracy"]][:, 0] / total,
                **{
                    f"macro_{m}": np.where(present, v, 0.0).sum(axis=1) / counted
                    for m, v in per_class.items()
                },
            }
        for m, values in per_class.items():
            for k, c in enumerate(self.classes):
                out[f"{m}.{c}"] = values[:, k]
        return {m: out[m] for m in metrics}

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        return self.block(weights, [metric])[metric]


def quantile_name(q: float) -> str:
    """The metric name of the ``q`` quantile of the absolute error: 0.9 -> ``abs_error_q90``."""
    return f"abs_error_q{format(q * 100, 'g').replace('.', '_')}"


class RegressionScorer:
    """One regressor: ``y`` the targets, ``p`` the predictions; ``quantiles``: the absolute
    error's quantiles to compute (``abs_error_q90`` for 0.9; numpy's ``inverted_cdf``)."""

    metrics = ("rmse", "mae", "r2")

    def __init__(self, y: np.ndarray, p: np.ndarray, quantiles: Sequence[float] = ()) -> None:
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        error = p - y
        centred = y - y.mean() if len(y) else y  # SS_tot is shift-invariant; centring keeps it exact
        sums = _Sums(len(y))
        sums.add("squared", error**2)
        sums.add("absolute", np.abs(error))
        sums.add("y", centred)
        sums.add("y2", centred**2)
        self.sums = sums
        self.matrix = sums.matrix()
        self.abs_order = np.argsort(np.abs(error), kind="mergesort")
        self.abs_sorted = np.abs(error)[self.abs_order]
        self.quantiles = {quantile_name(q): float(q) for q in quantiles}
        self.names = (*self.metrics, *self.quantiles)

    def _quantile(self, weights: np.ndarray, q: float) -> np.ndarray:
        cumulative = np.cumsum(weights[:, self.abs_order], axis=1)
        reached = cumulative >= q * cumulative[:, -1:] - 1e-9 * cumulative[:, -1:]
        return self.abs_sorted[reached.argmax(axis=1)]

    def block(self, weights: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
        s = weights @ self.matrix
        i = self.sums.index
        total = weights.sum(axis=1)
        residual = s[:, i["squared"]][:, 0]
        out: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            out["rmse"] = np.sqrt(residual / total)
            out["mae"] = s[:, i["absolute"]][:, 0] / total
            # r2 = 1 - SS_res / SS_tot, both weighted; SS_tot from weighted sums (no mean pass)
            spread = s[:, i["y2"]][:, 0] - s[:, i["y"]][:, 0] ** 2 / total
            out["r2"] = 1.0 - residual / np.where(spread > 0, spread, np.nan)
        for name, q in self.quantiles.items():
            if name in metrics:
                out[name] = self._quantile(weights, q)
        return {m: out[m] for m in metrics}

    def score(self, metric: str, weights: np.ndarray) -> np.ndarray:
        return self.block(weights, [metric])[metric]


SCORERS: dict[str, type[BinaryScorer] | type[MulticlassScorer] | type[RegressionScorer]] = {
    "binary": BinaryScorer,
    "multiclass": MulticlassScorer,
    "regression": RegressionScorer,
}


@dataclass(frozen=True)
class Extras:
    """What a task's scorer needs beyond labels and scores: the binary ``threshold`` and
    sensitive ``groups`` (column -> group code per row), the multiclass ``classes`` names, the
    regression absolute-error ``quantiles``."""

    threshold: float = 0.5
    groups: dict[str, np.ndarray] | None = None
    classes: tuple[str, ...] | None = None
    quantiles: tuple[float, ...] = ()


def scorer(
    task: str, y: np.ndarray, p: np.ndarray, threshold: float = 0.5, extras: Extras | None = None
) -> Scorer:
    extras = extras or Extras(threshold=threshold)
    if task == "binary":
        return BinaryScorer(y, p, extras.threshold, extras.groups)
    if task == "multiclass":
        return MulticlassScorer(y, p, extras.classes)
    if task == "regression":
        return RegressionScorer(y, p, extras.quantiles)
    raise ValueError(f"unknown task type {task!r} (expected one of {', '.join(SCORERS)})")


def rank_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC as the normalised Mann-Whitney U statistic (ties count one half)."""
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    return float(BinaryScorer(y, p, 0.5).auc(np.ones((1, len(y))))[0])


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold (highest first), from (0, 0)."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(-p, kind="mergesort")
    scores, labels = p[order], y[order]
    last = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
    tp = np.cumsum(labels)[last]
    fp = (last + 1) - tp
    positives, negatives = max(int(labels.sum()), 1), max(int(len(labels) - labels.sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]
