"""CMC and mAP with the Market-1501 query/gallery protocol.

The official evaluation (Zheng et al., ``evaluation.m`` / ``compute_AP.m`` of the
Market-1501 baseline; the same loop in Person_reID_baseline_pytorch's
``evaluate_gpu.py``), per query:

* good = gallery images of the query's identity taken by *another* camera;
* junk = gallery images of the same identity and the same camera, and every
  junk image (person id ``-1``); junk is skipped in the ranking: it neither
  counts as a match nor pushes matches down;
* distractors (person id ``0000``) and other identities are ordinary wrong matches.

AP is a named convention, because re-ID code disagrees:

* ``market`` (default): the trapezoid rule of ``compute_AP.m`` — the precision
  before and after each hit averaged, starting from precision 1 at recall 0;
* ``step``: non-interpolated AP, the mean of the precision at each hit (torchreid's
  ``eval_market1501``, scikit-learn's ``average_precision_score``).

A query with no good gallery image (impossible on real Market) is left out of both
CMC and mAP and counted in ``queries_without_match``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.errors import BenchError

JUNK = -1
DISTRACTOR = 0
AP_CONVENTIONS = {
    "market": "trapezoid rule of the official compute_AP.m (Market-1501 baseline, Person_reID_baseline_pytorch)",
    "step": "non-interpolated: mean precision at the hits (torchreid eval_market1501, sklearn average_precision_score)",
}


@dataclass(frozen=True)
class RankingResult:
    cmc: np.ndarray  # (max_rank,) fraction of valid queries with a good match within rank k
    mean_ap: float
    ap: np.ndarray  # (n_valid,) per valid query
    queries: int
    queries_without_match: int
    convention: str

    def rank(self, k: int) -> float:
        return float(self.cmc[k - 1])

    def summary(self, ranks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
        return {**{f"rank-{k}": self.rank(k) for k in ranks if k <= len(self.cmc)}, "map": self.mean_ap}


def query_ap(order_good: np.ndarray, convention: str = "market") -> float:
    """AP of one ranked list, junk already removed: ``order_good[i]`` is True where rank i+1 is good."""
    hits = np.flatnonzero(order_good)
    n_good = len(hits)
    if n_good == 0:
        raise BenchError("AP of a query without good gallery images is undefined")
    precision = np.arange(1, n_good + 1) / (hits + 1)  # precision at each hit
    if convention == "step":
        return float(precision.mean())
    if convention == "market":
        # The loop accumulates (recall step) x (previous precision + precision) / 2; recall only
        # steps at hits, and the precision just before hit i is i / hits[i] (1 for a hit at rank 1).
        before = np.where(hits == 0, 1.0, np.arange(n_good) / np.maximum(hits, 1))
        return float(np.sum((before + precision) / 2) / n_good)
    raise BenchError(f"unknown AP convention {convention!r}; choose one of {', '.join(AP_CONVENTIONS)}")


def evaluate_ranking(distance: np.ndarray, query_ids, query_cams, gallery_ids, gallery_cams,
                     max_rank: int = 50, convention: str = "market") -> RankingResult:
    """CMC and mAP of a (n_query, n_gallery) distance matrix (smaller = more similar).

    Ties are broken by gallery order (a stable sort), as MATLAB's ``sort`` does.
    """
    distance = np.asarray(distance, dtype=np.float64)
    q_ids, q_cams = np.asarray(query_ids), np.asarray(query_cams)
    g_ids, g_cams = np.asarray(gallery_ids), np.asarray(gallery_cams)
    if distance.shape != (len(q_ids), len(g_ids)) or len(q_cams) != len(q_ids) or len(g_cams) != len(g_ids):
        raise BenchError(f"distance matrix {distance.shape} does not match {len(q_ids)} queries x {len(g_ids)} gallery images")
    if convention not in AP_CONVENTIONS:
        raise BenchError(f"unknown AP convention {convention!r}; choose one of {', '.join(AP_CONVENTIONS)}")
    max_rank = min(max_rank, len(g_ids))
    cmc_sum, aps, empty = np.zeros(max_rank), [], 0
    for i in range(len(q_ids)):
        order = np.argsort(distance[i], kind="stable")
        same = g_ids[order] == q_ids[i]
        junk = (g_ids[order] == JUNK) | (same & (g_cams[order] == q_cams[i]))
        good = (same & ~junk)[~junk]
        if not good.any():
            empty += 1
            continue
        first = int(np.argmax(good))
        if first < max_rank:
            cmc_sum[first:] += 1
        aps.append(query_ap(good, convention))
    valid = len(aps)
    if valid == 0:
        raise BenchError("no query has a good gallery image (same identity, another camera): nothing to evaluate")
    return RankingResult(cmc_sum / valid, float(np.mean(aps)), np.array(aps), len(q_ids), empty, convention)
