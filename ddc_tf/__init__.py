"""ddc_tf: Deep Divergence-based Clustering (Kampffmeyer et al., Neural Networks 2019) in Keras 3.

The public API:

- ``DDC``: the Keras model (``compile``, ``fit``, ``predict``, ``embed``); the sibling
  methods ``OTClustering`` (optimal transport, size constraints) and ``DCAN`` (adversarial);
  ``ClusteringModel``, their common base (``ddc_tf.models``).
- ``ddc_loss`` and its pieces in ``ddc_tf.losses``.
- ``ddc_tf.data``: ``load`` / ``load_arrays`` / ``to_dataset`` for every data source.
- ``accuracy``, ``nmi``, ``align_labels``, ``vote``: evaluation (``ddc_tf.evaluation``).
- ``kmeans``, ``kmeans_baseline``: the k-means++ baseline.
- ``TrainConfig``, ``train_run``, ``run_protocol``: the paper's training protocol.
- ``ddc_tf.selection``: label-free run selectors (``rank_runs``) and the consensus
  clustering of all runs (``ensemble``).
"""

from ddc_tf._version import __version__  # noqa: E402,F401

from ddc_tf import data, evaluation, losses, selection  # noqa: E402
from ddc_tf.baselines import kmeans, kmeans_baseline  # noqa: E402
from ddc_tf.evaluation import accuracy, align_labels, cluster_metrics, nmi, vote  # noqa: E402
from ddc_tf.losses import ddc_loss  # noqa: E402
from ddc_tf.models import DCAN, DDC, ClusteringModel, OTClustering  # noqa: E402
from ddc_tf.experiments.protocol import run_protocol  # noqa: E402
from ddc_tf.experiments.training import TrainConfig, train_run  # noqa: E402

__all__ = [
    "ClusteringModel",
    "DCAN",
    "DDC",
    "OTClustering",
    "TrainConfig",
    "accuracy",
    "align_labels",
    "cluster_metrics",
    "data",
    "ddc_loss",
    "evaluation",
    "kmeans",
    "kmeans_baseline",
    "losses",
    "nmi",
    "run_protocol",
    "selection",
    "train_run",
    "vote",
]
