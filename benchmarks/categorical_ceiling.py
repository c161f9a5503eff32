"""How much of a TVD 0.2 change over 40 categories can any test catch in a 200-row hour?

The detection benchmark moves Zipf(1.1) shares by a random multiplicative noise (every share times
exp(sigma * N(0, 1)), sigma set so the total variation distance is 0.2), a fresh direction every hour.
The most powerful test of "no change" against that very alternative, averaged over its directions
(Neyman-Pearson), rejects when the mixture likelihood ratio, the mean over directions of
prod_k (q_k / p_k)^(c_k), is large. No test that does not know how the directions are drawn can beat it.
Here the mixture is taken over `--directions` fixed draws (a valid statistic on its own; its power
grows towards the optimum with more draws), its null threshold from `--null` simulated unchanged hours,
and its power, the shipped test's (`chisquare.ladder`) and a single Cressie-Read table's are measured on
the same fresh changed hours. One JSON line.

    .venv/bin/python benchmarks/categorical_ceiling.py   # ~5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.special import logsumexp

from monitoring_pipeline.stats.drift.chisquare import CRESSIE_READ, homogeneity, ladder

REFERENCE_ROWS = 500_000


def zipf(k: int, exponent: float = 1.1) -> np.ndarray:
    p = np.arange(1, k + 1, dtype=float) ** -exponent
    return p / p.sum()


def moved(rng: np.random.Generator, p: np.ndarray, tvd: float) -> np.ndarray:
    noise, lo, hi = rng.standard_normal(len(p)), 0.0, 10.0
    q = p
    for _ in range(60):
        sigma = (lo + hi) / 2
        q = p * np.exp(sigma * noise)
        q /= q.sum()
        lo, hi = (sigma, hi) if 0.5 * np.abs(q - p).sum() < tvd else (lo, sigma)
    return q


def mixture_statistic(counts: np.ndarray, log_ratios: np.ndarray, chunk: int = 2000) -> np.ndarray:
    return np.concatenate(
        [logsumexp(counts[i : i + chunk] @ log_ratios, axis=1) for i in range(0, len(counts), chunk)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", type=int, default=40)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=1e-3 / 13, help="a lone changed column of 13")
    parser.add_argument("--directions", type=int, default=12_000)
    parser.add_argument("--null", type=int, default=200_000)
    parser.add_argument("--hours", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    p = zipf(args.categories)
    log_ratios = np.log(np.array([moved(rng, p, 0.2) for _ in range(args.directions)]) / p).T
    null = mixture_statistic(rng.multinomial(args.rows, p, size=args.null).astype(float), log_ratios)
    threshold = float(np.quantile(null, 1 - args.alpha))
    changed = np.array(
        [rng.multinomial(args.rows, moved(rng, p, 0.2)) for _ in range(args.hours)], dtype=float
    )
    reference = rng.multinomial(REFERENCE_ROWS, p).astype(float)
    figures = {
        "categories": args.categories,
        "rows": args.rows,
        "alpha": args.alpha,
        "bayes_mixture_power": float((mixture_statistic(changed, log_ratios) > threshold).mean()),
        "ladder_power": float(np.mean([ladder(reference, c)[0] <= args.alpha for c in changed])),
        "single_table_power": float(
            np.mean([homogeneity(reference, c, power=CRESSIE_READ)[2] <= args.alpha for c in changed])
        ),
        "directions": args.directions,
        "null_hours": args.null,
        "changed_hours": args.hours,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
