"""ddc_tf.selection: label-free run selectors (loss, l1, consensus, ensemble), checked against
scikit-learn's NMI and hand-made runs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from ddc_tf import selection


def _records(losses, l1s):
    return [{"loss": loss, "terms": {"l1": l1, "l2": 0.0, "l3": 0.0}} for loss, l1 in zip(losses, l1s)]


def _runs(seed: int = 0, n: int = 300):
    """Three runs that find the same 3 clusters (ids permuted, a few points moved) and one
    idiosyncratic run."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), n // 3)
    runs = []
    for permutation in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        labels = np.array(permutation)[truth]
        moved = rng.choice(n, 10, replace=False)
        labels[moved] = rng.integers(0, 3, 10)
        runs.append(labels)
    runs.append(rng.integers(0, 3, n))
    return runs


def test_agreement_matrix_is_pairwise_nmi():
    runs = _runs()
    table = selection.agreement_matrix(runs)
    assert table.shape == (4, 4)
    np.testing.assert_allclose(np.diag(table), 1.0)
    np.testing.assert_allclose(table, table.T)
    for i in range(4):
        for j in range(4):
            if i != j:
                expected = normalized_mutual_info_score(runs[i], runs[j], average_method="arithmetic")
                assert table[i, j] == pytest.approx(expected, abs=1e-10)


def test_consensus_scores_are_mean_agreement_with_the_others():
    runs = _runs()
    table = selection.agreement_matrix(runs)
    scores = selection.consensus_scores(runs)
    for i in range(4):
        assert scores[i] == pytest.approx(np.mean([table[i, j] for j in range(4) if j != i]))
    assert np.argmin(scores) == 3  # the idiosyncratic run agrees least
    np.testing.assert_array_equal(selection.consensus_scores(runs[:1]), [0.0])


def test_rank_runs_by_each_selector():
    runs = _runs()
    # the idiosyncratic run has the lowest loss, run 1 the lowest l1
    records = _records([0.5, 0.4, 0.6, 0.1], [0.3, 0.1, 0.2, 0.4])
    assert selection.rank_runs(records, runs, "loss") == [3, 1, 0, 2]
    assert selection.rank_runs(records, runs, "l1") == [1, 2, 0, 3]
    ranked = selection.rank_runs(records, runs, "consensus")
    assert ranked[-1] == 3 and sorted(ranked[:3]) == [0, 1, 2]
    # precomputed scores give the same ranking, without the labelings
    assert selection.rank_runs(records, None, "consensus", consensus=selection.consensus_scores(runs)) == ranked


def test_ensemble_agreement_is_nmi_with_the_consensus_clustering():
    runs = _runs()
    combined = selection.ensemble(runs, 3, seed=0)
    scores = selection.ensemble_agreement(runs, combined)
    for labels, score in zip(runs, scores):
        assert score == pytest.approx(normalized_mutual_info_score(combined, labels), abs=1e-10)
    assert np.argmin(scores) == 3  # the idiosyncratic run is farthest from what the others agree on


def test_rank_runs_by_agreement_with_the_ensemble():
    runs = _runs()
    records = [{**r, "cluster_sizes": [100, 100, 100]} for r in _records([0.5, 0.4, 0.6, 0.1], [0.3, 0.1, 0.2, 0.4])]
    combined = selection.ensemble(runs, 3, seed=0)
    expected = [int(i) for i in np.argsort(-selection.ensemble_agreement(runs, combined), kind="stable")]
    assert selection.rank_runs(records, runs, "ensemble", combined=combined) == expected
    assert expected[-1] == 3
    # without `combined` it clusters the runs itself: seed 0, k from the records' cluster sizes
    assert selection.rank_runs(records, runs, "ensemble") == expected
    assert selection.rank_runs(_records([0.5, 0.4, 0.6, 0.1], [0.0] * 4), runs, "ensemble") == expected
    # a run that disagrees with a 2-to-1 majority ranks last even at the lowest loss
    same = np.repeat(np.arange(3), 40)
    odd = np.tile(np.arange(3), 40)
    assert selection.rank_runs(_records([0.3, 0.2, 0.1], [0.0] * 3), [same, same, odd], "ensemble")[-1] == 2
    # fewer than three runs: no majority, the loss decides
    assert selection.rank_runs(records[:2], runs[:2], "ensemble") == [1, 0]
    with pytest.raises(ValueError, match="cluster ids of every run"):
        selection.rank_runs(records, None, "ensemble")


def test_consensus_ties_fall_back_to_the_loss():
    same = np.repeat(np.arange(2), 50)
    records = _records([0.3, 0.1, 0.2], [0.0, 0.0, 0.0])
    assert selection.rank_runs(records, [same, 1 - same, same], "consensus") == [1, 2, 0]
    # two runs agree equally with each other: the loss decides
    assert selection.rank_runs(records[:2], [same, same[::-1]], "consensus") == [1, 0]


def test_rank_runs_rejects_bad_arguments():
    records = _records([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(ValueError, match="selector='best'"):
        selection.rank_runs(records, None, "best")
    with pytest.raises(ValueError, match="cluster ids of every run"):
        selection.rank_runs(records, None, "consensus")


def test_vote_size_is_the_better_half_or_what_was_asked():
    assert [selection.vote_size(r) for r in (1, 2, 3, 4, 5, 6, 10, 11, 20)] == [None, None, 3, 3, 3, 3, 5, 6, 10]
    assert selection.vote_size(5, 3) == 3 and selection.vote_size(5, 5) == 5
    assert selection.vote_size(4, 5) is None  # fewer runs than asked: no vote
    # with M refined runs: the better half of the others, at most 2M − 1 (≥ 3), so they carry it
    assert selection.vote_size(13, refined=3) == 5 and selection.vote_size(23, refined=3) == 5
    assert selection.vote_size(6, refined=3) == 3 and selection.vote_size(11, refined=1) == 3
    assert selection.vote_size(30, refined=10) == 10 and selection.vote_size(4, refined=2) is None
    assert selection.vote_size(13, 7, refined=3) == 7  # asked: exactly that many of all 13
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="vote_runs"):
            selection.vote_size(5, bad)


def test_ensemble_recovers_the_partition_most_runs_agree_on():
    from ddc_tf.evaluation import accuracy

    truth = np.repeat(np.arange(3), 100)
    runs = _runs()  # three noisy copies of truth (ids permuted) and one random run
    combined = selection.ensemble(runs, 3, seed=0)
    assert combined.dtype == np.int64 and combined.shape == truth.shape
    assert accuracy(truth, combined) >= max(accuracy(truth, r) for r in runs[:3])
    assert accuracy(truth, combined) > 0.97
    np.testing.assert_array_equal(combined, selection.ensemble(runs, 3, seed=0))  # deterministic
    # identical runs, ids permuted: the consensus is that partition
    same = [truth, (truth + 1) % 3, (truth + 2) % 3]
    assert accuracy(truth, selection.ensemble(same, 3)) == 1.0


def test_ensemble_distance_counts_disagreeing_runs():
    """The k-means geometry behind ensemble: squared distance between two points' one-hot
    rows is twice the number of runs that separate them (checked in plain numpy)."""
    runs = _runs(seed=1, n=30)
    rows = np.concatenate([np.eye(3)[r] for r in runs], axis=1)
    squared = ((rows[:, None, :] - rows[None, :, :]) ** 2).sum(-1)
    disagreements = sum((r[:, None] != r[None, :]).astype(int) for r in runs)
    np.testing.assert_array_equal(squared, 2 * disagreements)


def test_ensemble_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        selection.ensemble([], 3)
    with pytest.raises(ValueError):
        selection.ensemble([np.zeros(5, int), np.zeros(6, int)], 2)


def test_runs_whose_loss_is_not_finite_rank_last_whatever_the_selector():
    """A diverged run predicts one cluster; collapsed runs agree with each other and led the consensus."""
    good = [np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 2, 2, 2])]
    collapsed = [np.zeros(6, np.int64)] * 3
    records = [{"loss": loss, "terms": {"l1": loss}, "cluster_sizes": [2, 2, 2]}
               for loss in (0.2, 0.25, float("nan"), float("nan"), float("nan"))]
    for selector in selection.SELECTORS:
        order = selection.rank_runs(records, good + collapsed, selector)
        assert order[:2] == [0, 1], selector


def test_one_partition_under_other_cluster_ids_ties_and_the_loss_decides():
    base = np.random.default_rng(0).integers(0, 4, 2000)
    relabelled = (base + 1) % 4
    other = np.random.default_rng(1).integers(0, 4, 2000)
    records = [{"loss": 1.0, "terms": {"l1": 1.0}}, {"loss": 0.5, "terms": {"l1": 0.5}},
               {"loss": 0.1, "terms": {"l1": 0.1}}]
    assert selection.rank_runs(records, [base, relabelled, other], "consensus")[:2] == [1, 0]
