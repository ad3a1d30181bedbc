"""The clustering models: one base class and one module per method.

- :mod:`ddc_tf.models.base`: ``ClusteringModel`` — validation, trunk, compile, metrics,
  the ``train_step`` template, config; what every method shares.
- :mod:`ddc_tf.models.ddc`: ``DDC`` (Kampffmeyer et al. 2019), the package's method.
- :mod:`ddc_tf.models.ot`: ``OTClustering`` (optimal transport with size constraints).
- :mod:`ddc_tf.models.dcan`: ``DCAN`` (adversarial clustering loss).
- :mod:`ddc_tf.models.networks`: the paper's backbones, the hidden head, decoder and
  discriminator.
- :mod:`ddc_tf.models.group`: ``RunGroup``, R independent models trained by one step
  (``ddc_tf.experiments.grouped.train_runs``; ``ddc-tf fit --runs-at-once``).
- :mod:`ddc_tf.models.optimizers`: ``FusedAdam``, Keras' Adam with one fused update kernel per
  variable (the optimizer runs and distillation train with).

A new clustering loss is one module here (a ``ClusteringModel`` subclass with its head and
``loss_terms``), its tensor code in :mod:`ddc_tf.losses`, and an entry in ``METHODS``.
"""

from ddc_tf.models.base import ClusteringModel
from ddc_tf.models.dcan import DCAN
from ddc_tf.models.ddc import DDC
from ddc_tf.models.ot import OTClustering

#: ``TrainConfig.method`` → model class.
METHODS: dict[str, type[ClusteringModel]] = {cls.METHOD: cls for cls in (DDC, OTClustering, DCAN)}

__all__ = ["DCAN", "DDC", "METHODS", "ClusteringModel", "OTClustering"]
