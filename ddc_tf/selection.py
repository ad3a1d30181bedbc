"""Label-free selection of runs: which of R trained runs to report, and which to vote over.

DDC is prone to local minima, so the protocol trains R runs and must pick one without
labels. Selectors rank the runs best first:

* ``"loss"``: the lowest total unsupervised loss (the paper's rule, §4.6);
* ``"l1"``: the lowest Cauchy–Schwarz term ``l1`` alone (the public PyTorch DDC's rule);
* ``"consensus"``: the run that agrees most with the other runs — the highest mean NMI
  between its cluster ids and each other run's (an ensemble-style criterion: a good
  local minimum is one that many seeds find, a poor one is idiosyncratic);
* ``"ensemble"``: the run that agrees most with DDC-ENSEMBLE, the consensus clustering of
  all runs (below) — the highest NMI between its cluster ids and the ensemble's. Where
  ``"consensus"`` averages pairwise agreements, so that two runs sharing one odd partition
  support each other, this compares every run with what the runs agree on as a whole.

Ties (and ``"consensus"`` / ``"ensemble"`` with fewer than three runs, where there is no
majority to agree with) fall back to the total loss. DDC-VOTE then votes over the first
``vote_size(R)`` runs of the ranking (ties to the best-ranked run). DDC-ENSEMBLE (:func:`ensemble`) combines
*all* runs into one consensus clustering: k-means on the concatenated one-hot cluster
indicators of the runs — the quadratic-mutual-information consensus of Topchy, Jain &
Punch (2005), which finds the partition sharing the most information with the runs. Labels
never enter any of this.

Example:
    >>> order = rank_runs(records, labelings, selector="consensus")
    >>> best = records[order[0]]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ddc_tf import baselines, evaluation
from ddc_tf.options import DEFAULT_SELECTOR, SELECTORS  # the names rank_runs accepts
from ddc_tf.options import MIN_VOTE_RUNS  # re-exported: the runs DDC-VOTE and DDC-ENSEMBLE need

__all__ = ["SELECTORS", "DEFAULT_SELECTOR", "MIN_VOTE_RUNS", "vote_size", "agreement_matrix",
           "consensus_scores", "ensemble_agreement", "check_selector", "rank_runs", "ensemble"]


def vote_size(runs: int, vote_runs: int | None = None, refined: int = 0) -> int | None:
    """How many of ``runs`` ranked runs DDC-VOTE combines, or None for no vote.

    ``vote_runs=None`` (the default): the better half, ``max(3, ceil(runs / 2))``, once there
    are at least 3 runs — 3 of 5 runs, 5 of 10, 10 of 20 (on the three measured protocols of
    10–20 runs it beat the paper's fixed 3 by 4.8 ACC points on average,
    ``benchmarks/results/selection.json``). When ``refined`` of the ``runs`` are the protocol's
    refined runs (near-copies of one partition, DDC-ENSEMBLE's), the better half of the others,
    at most ``2·refined − 1`` (at least 3): the refined runs, ranked first, stay a majority of
    the vote — with 20 runs a vote of 10 let 7 independent runs outvote 3 refined ones (digits:
    0.816 against 0.895 for a vote of 5). An integer: exactly that many, when that many were
    trained.
    """
    if vote_runs is None:
        independent = runs - refined
        if independent < MIN_VOTE_RUNS:
            return None
        size = -(-independent // 2)
        if refined:
            size = min(size, 2 * refined - 1)
        return max(MIN_VOTE_RUNS, size)
    if isinstance(vote_runs, bool) or int(vote_runs) != vote_runs or vote_runs < 2:
        raise ValueError(f"vote_runs must be a whole number ≥ 2 or None, got {vote_runs!r}")
    return int(vote_runs) if runs >= vote_runs else None


def agreement_matrix(labelings: Sequence[np.ndarray]) -> np.ndarray:
    """Pairwise NMI between R clusterings of the same points: ``(R, R)`` float64, 1 on the
    diagonal, symmetric."""
    runs = len(labelings)
    table = np.eye(runs)
    for i in range(runs):
        for j in range(i + 1, runs):
            table[i, j] = table[j, i] = evaluation.nmi(labelings[i], labelings[j])
    return table


def consensus_scores(labelings: Sequence[np.ndarray]) -> np.ndarray:
    """Mean NMI of each run's cluster ids with every other run's: ``(R,)`` float64 (higher
    = more agreement); all zeros for a single run."""
    runs = len(labelings)
    if runs < 2:
        return np.zeros(runs)
    table = agreement_matrix(labelings)
    return (table.sum(axis=1) - 1.0) / (runs - 1)


def ensemble_agreement(labelings: Sequence[np.ndarray], combined: np.ndarray) -> np.ndarray:
    """NMI of each run's cluster ids with the consensus clustering ``combined`` (DDC-ENSEMBLE,
    :func:`ensemble`): ``(R,)`` float64, higher = closer to what the runs agree on."""
    return np.array([evaluation.nmi(combined, labels) for labels in labelings], dtype=np.float64)


def check_selector(selector: str) -> str:
    """``selector`` if it is one of :data:`SELECTORS`, else a ValueError naming them."""
    if selector not in SELECTORS:
        raise ValueError(f"selector={selector!r}; expected one of {list(SELECTORS)}")
    return selector


def rank_runs(
    records: Sequence[dict[str, Any]],
    labelings: Sequence[np.ndarray] | None = None,
    selector: str = DEFAULT_SELECTOR,
    consensus: np.ndarray | None = None,
    combined: np.ndarray | None = None,
) -> list[int]:
    """Order runs best first by a label-free selector.

    Args:
        records: one dict per run with ``"loss"`` and ``"terms"`` (``{"l1", ...}``), as the
            protocol writes them.
        labelings: each run's ``(n,)`` cluster ids (needed by ``"consensus"`` and
            ``"ensemble"``).
        selector: one of :data:`SELECTORS`.
        consensus: ``consensus_scores(labelings)`` when the caller has them already
            (``"consensus"`` then needs no labelings).
        combined: ``ensemble(labelings, k, seed=…)`` when the caller has it already (the
            protocol reports that one); ``None``: ``"ensemble"`` computes it with seed 0,
            ``k`` the length of the records' ``"cluster_sizes"`` (else the largest id + 1).

    Returns:
        Indices into ``records``, best first. A run whose loss is not finite (its training
        diverged) comes after every other, whatever the selector: collapsed runs agree with
        each other and would otherwise lead the consensus.
    """
    check_selector(selector)
    loss = np.array([r["loss"] for r in records], dtype=np.float64)
    if selector == "loss":
        primary = loss
    elif selector == "l1":
        primary = np.array([r["terms"]["l1"] for r in records], dtype=np.float64)
    elif selector == "ensemble":
        if len(records) < MIN_VOTE_RUNS:
            primary = np.zeros(len(records))  # no majority to agree with: the loss decides
        else:
            labelings = _check_labelings(selector, records, labelings)
            if combined is None:
                combined = ensemble(labelings, _n_clusters(records, labelings), seed=0)
            primary = -ensemble_agreement(labelings, combined)
    else:
        if consensus is None:
            consensus = consensus_scores(_check_labelings(selector, records, labelings))
        primary = -np.asarray(consensus, dtype=np.float64)
    # Scores of one partition under other cluster ids differ in the last bits (the order of the
    # sums): rounded, they tie, and the loss decides as documented.
    primary = np.round(primary, 12)
    # lexsort: the last key is the first compared: finite loss, then the primary score; the loss breaks ties
    return [int(i) for i in np.lexsort((loss, primary, ~np.isfinite(loss)))]


def _check_labelings(selector: str, records: Sequence[dict[str, Any]],
                     labelings: Sequence[np.ndarray] | None) -> Sequence[np.ndarray]:
    """``labelings`` if there is one per record, else a ValueError naming the selector."""
    if labelings is None or len(labelings) != len(records):
        raise ValueError(f"selector={selector!r} needs the cluster ids of every run")
    return labelings


def _n_clusters(records: Sequence[dict[str, Any]], labelings: Sequence[np.ndarray]) -> int:
    """The runs' k: the length of their ``"cluster_sizes"`` when recorded, else the largest
    cluster id + 1 (a cluster no point chose is then not counted)."""
    if "cluster_sizes" in records[0]:
        return len(records[0]["cluster_sizes"])
    return int(max(np.max(labels) for labels in labelings)) + 1


def ensemble(labelings: Sequence[np.ndarray], n_clusters: int, *, seed: int = 0,
             n_init: int = baselines.DEFAULT_N_INIT) -> np.ndarray:
    """Consensus clustering of R runs (DDC-ENSEMBLE): k-means++ (best of ``n_init``) on the
    ``(n, Σ_r k_r)`` matrix of one-hot cluster indicators of all runs, side by side.

    The squared distance between two points' rows is twice the number of runs that put
    them in different clusters, so k-means groups points that most runs keep together;
    maximising this objective maximises the quadratic mutual information between the
    consensus and the runs (Topchy, Jain & Punch 2005). Unlike DDC-VOTE it needs no
    reference run and no label alignment.

    Args:
        labelings: R ≥ 1 integer arrays ``(n,)`` of cluster ids (any ids per run).
        n_clusters: k of the consensus.
        seed: k-means seed (deterministic given it).
        n_init: k-means++ restarts.

    Returns:
        int64 ``(n,)`` cluster ids in ``0 … n_clusters-1``.
    """
    runs = [evaluation._check_labels(lab, f"labelings[{r}]") for r, lab in enumerate(labelings)]
    if not runs:
        raise ValueError("labelings is empty, expected at least one labeling")
    n = runs[0].shape[0]
    blocks = []
    for r, lab in enumerate(runs):
        evaluation._check_same_length(runs[0], "labelings[0]", lab, f"labelings[{r}]")
        _, codes = np.unique(lab, return_inverse=True)
        blocks.append(sp.csr_matrix((np.ones(n), (np.arange(n), codes.reshape(-1))),
                                    shape=(n, int(codes.max()) + 1)))
    return baselines.kmeans(sp.hstack(blocks, format="csr"), n_clusters, n_init=n_init, seed=seed)
