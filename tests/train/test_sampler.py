from __future__ import annotations

from bench.train.sampler import PairSampler


def test_each_epoch_is_a_permutation_and_epochs_differ():
    s = PairSampler(7, seed=2)
    first, second = s.take(7), s.take(7)
    assert sorted(first) == sorted(second) == list(range(7))
    assert first != second
    assert s.state_dict() == {"epoch": 2, "index": 0}


def test_batches_cross_epoch_boundaries_and_resume_from_a_position():
    s = PairSampler(5, seed=0)
    stream = s.take(4) + s.take(4) + s.take(4)  # 12 = 2 epochs + 2
    assert s.state_dict() == {"epoch": 2, "index": 2}
    resumed = PairSampler(5, seed=0)
    resumed.load_state_dict(s.advance({"epoch": 0, "index": 0}, 6))
    assert resumed.take(6) == stream[6:]


def test_ranks_draw_disjoint_shards_of_the_same_permutation():
    shards = [PairSampler(11, seed=4, rank=r, world_size=3) for r in range(3)]
    epoch0 = [s.take(3) for s in shards]
    flat = sum(epoch0, [])
    assert len(set(flat)) == 9  # disjoint; the 2 pairs that do not divide evenly are dropped
    assert all(s.state_dict() == {"epoch": 1, "index": 0} for s in shards)
    whole = PairSampler(11, seed=4).shard(0)
    assert [int(i) for i in whole[:9][1::3]] == epoch0[1]
