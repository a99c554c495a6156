"""Market CMC/mAP against hand computation, the official compute_AP.m loop and scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.reid.evaluate import evaluate_ranking, query_ap

# One gallery, two queries (person, camera). Hand-made distances give the ranked lists below.
GALLERY_IDS = np.array([1, 2, 1, -1, 0, 1])
GALLERY_CAMS = np.array([1, 2, 2, 3, 4, 3])
#            gallery:  A    B    C    D    E    F
DISTANCE = np.array([[0.1, 0.3, 0.4, 0.2, 0.5, 0.6],   # query person 1, camera 1
                     [0.9, 0.05, 0.2, 0.3, 0.4, 0.5]])  # query person 2, camera 1
QUERY_IDS, QUERY_CAMS = np.array([1, 2]), np.array([1, 1])


def test_hand_made_case():
    # Query 1 ranks A D B C E F. A (same person, same camera) and D (junk -1) are skipped, so the
    # list is B C E F with good images C and F at ranks 2 and 4 (E, the distractor 0000, is a miss).
    # Trapezoid (compute_AP.m): hit at 2: (0/1 + 1/2)/2 = 1/4; hit at 4: (1/3 + 2/4)/2 = 5/12;
    # AP = (1/4 + 5/12) / 2 = 1/3. Step AP: (1/2 + 2/4) / 2 = 1/2.
    # Query 2 ranks B first (its only good image, another camera): AP 1, rank-1 hit.
    market = evaluate_ranking(DISTANCE, QUERY_IDS, QUERY_CAMS, GALLERY_IDS, GALLERY_CAMS)
    assert market.ap == pytest.approx([1 / 3, 1.0])
    assert market.mean_ap == pytest.approx(2 / 3)
    assert market.rank(1) == 0.5 and market.rank(2) == 1.0 and market.rank(5) == 1.0
    step = evaluate_ranking(DISTANCE, QUERY_IDS, QUERY_CAMS, GALLERY_IDS, GALLERY_CAMS, convention="step")
    assert step.ap == pytest.approx([0.5, 1.0]) and step.mean_ap == pytest.approx(0.75)
    assert list(step.cmc) == list(market.cmc)  # CMC does not depend on the AP convention


def test_junk_never_counts_and_distractors_are_misses():
    # Query 1 with the junk image D moved to the top and the distractor E moved to rank 1 of the cleaned list.
    d = DISTANCE.copy()
    d[0] = [0.1, 0.3, 0.4, 0.0, 0.05, 0.6]  # D E A B C F -> cleaned: E B C F, good at 3 and 4
    result = evaluate_ranking(d[:1], QUERY_IDS[:1], QUERY_CAMS[:1], GALLERY_IDS, GALLERY_CAMS, convention="step")
    assert result.ap[0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert result.rank(2) == 0 and result.rank(3) == 1


def test_query_without_good_gallery_image_is_left_out():
    ids, cams = np.array([1, 3]), np.array([1, 1])  # person 3 is not in the gallery
    result = evaluate_ranking(DISTANCE, ids, cams, GALLERY_IDS, GALLERY_CAMS)
    assert result.queries == 2 and result.queries_without_match == 1 and len(result.ap) == 1
    with pytest.raises(BenchError, match="no query has a good gallery image"):
        evaluate_ranking(DISTANCE[1:], [3], [1], GALLERY_IDS, GALLERY_CAMS)


def compute_ap_m(good_image, junk_image, index):
    """compute_AP.m of the Market-1501 evaluation code, transcribed loop for loop (0-based indices)."""
    cmc = np.zeros(len(index))
    ngood = len(good_image)
    old_recall, old_precision, ap, intersect_size, j, good_now, njunk = 0.0, 1.0, 0.0, 0, 0, 0, 0
    for n in range(len(index)):
        flag = 0
        if index[n] in good_image:
            cmc[n - njunk:] = 1
            flag = 1
            good_now += 1
        if index[n] in junk_image:
            njunk += 1
            continue
        if flag == 1:
            intersect_size += 1
        recall = intersect_size / ngood
        precision = intersect_size / (j + 1)
        ap += (recall - old_recall) * ((old_precision + precision) / 2)
        old_recall, old_precision = recall, precision
        j += 1
        if good_now == ngood:
            return ap, cmc
    return ap, cmc


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n_q, n_g = 12, 60
    g_ids = rng.choice([-1, 0, 1, 2, 3, 4, 5], n_g, p=[0.1, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15])
    g_cams = rng.integers(1, 7, n_g)
    q_ids, q_cams = rng.integers(1, 6, n_q), rng.integers(1, 7, n_q)
    return rng.random((n_q, n_g)), q_ids, q_cams, g_ids, g_cams


@pytest.mark.parametrize("seed", range(5))
def test_against_the_official_loop(seed):
    distance, q_ids, q_cams, g_ids, g_cams = _random_case(seed)
    ours = evaluate_ranking(distance, q_ids, q_cams, g_ids, g_cams, max_rank=60)
    aps, cmcs = [], []
    for i in range(len(q_ids)):
        good = set(np.flatnonzero((g_ids == q_ids[i]) & (g_cams != q_cams[i])))
        junk = set(np.flatnonzero(g_ids == -1)) | set(np.flatnonzero((g_ids == q_ids[i]) & (g_cams == q_cams[i])))
        if not good:
            continue
        ap, cmc = compute_ap_m(good, junk, list(np.argsort(distance[i])))
        aps.append(ap)
        cmcs.append(cmc)
    assert ours.ap == pytest.approx(aps, abs=1e-12)
    assert ours.cmc == pytest.approx(np.mean(cmcs, axis=0)[:60], abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_step_ap_against_sklearn(seed):
    from sklearn.metrics import average_precision_score

    distance, q_ids, q_cams, g_ids, g_cams = _random_case(seed)
    ours = evaluate_ranking(distance, q_ids, q_cams, g_ids, g_cams, convention="step")
    expected = []
    for i in range(len(q_ids)):
        junk = (g_ids == -1) | ((g_ids == q_ids[i]) & (g_cams == q_cams[i]))
        good = (g_ids == q_ids[i]) & ~junk
        if good.any():
            expected.append(average_precision_score(good[~junk], -distance[i][~junk]))
    assert ours.ap == pytest.approx(expected, abs=1e-12)


def test_query_ap_rejects_unknown_convention_and_empty_lists():
    with pytest.raises(BenchError, match="unknown AP convention"):
        query_ap(np.array([True]), "voc")
    with pytest.raises(BenchError, match="undefined"):
        query_ap(np.array([False, False]))


def test_map_interval_brackets_the_mean_and_collapses_for_equal_aps():
    from bench.reid.table import map_interval

    assert map_interval([0.4] * 7) == pytest.approx((0.4, 0.4))
    ap = list(np.random.default_rng(0).random(40))
    lo, hi = map_interval(ap)
    assert lo < np.mean(ap) < hi and map_interval(ap) == (lo, hi)  # seeded: the same interval again
