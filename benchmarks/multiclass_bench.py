"""The cost of a multiclass hour's statistics (no I/O): realized metrics, the bootstrap standard error of
macro F1 and one-vs-rest CBPE, on 10k and 1M rows of 3 classes; and the bootstrap alone, whose cost must
not grow with the rows (it resamples the confusion matrix, not the rows).

Prints one JSON line: seconds per step (best of 3) per size, and the bootstrap's 1M / 10k ratio.
Run: .venv/bin/python benchmarks/multiclass_bench.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np

from monitoring_pipeline.stats.multiclass import macro_f1_standard_error, multiclass_cbpe, multiclass_metrics
from monitoring_pipeline.stats.performance_metrics import calibration_counts, calibrator_from_counts

CLASSES = ("billing", "technical", "account")


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    logits = 2.0 * np.eye(3)[rng.choice(3, size=n)] + rng.normal(0, 1, (n, 3))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(scores, axis=1)).sum(axis=1).clip(0, 2)
    return scores, y, scores.argmax(axis=1)


def one_size(n: int, rng: np.random.Generator) -> dict[str, float]:
    scores, y, predicted = sample(n, rng)
    metrics = multiclass_metrics(y, predicted, CLASSES, scores)
    matrix = np.array(metrics.confusion["matrix"])
    calibrators = [
        calibrator_from_counts(calibration_counts((y == c).astype(float), scores[:, c]), 100)
        for c in range(3)
    ]
    return {
        f"metrics_s_{n}": best(lambda: multiclass_metrics(y, predicted, CLASSES, scores)),
        f"bootstrap_se_s_{n}": best(lambda: macro_f1_standard_error(matrix)),
        f"cbpe_s_{n}": best(lambda: multiclass_cbpe(scores, predicted, calibrators)),
    }


def main() -> None:
    rng = np.random.default_rng(1)
    out = one_size(10_000, rng) | one_size(1_000_000, rng)
    out["bootstrap_1m_to_10k_ratio"] = out["bootstrap_se_s_1000000"] / out["bootstrap_se_s_10000"]
    print(json.dumps({k: round(v, 5) for k, v in out.items()}))


if __name__ == "__main__":
    main()
