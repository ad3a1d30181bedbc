"""The vocabularies of the package's options, in a module that imports nothing heavy.

The command line builds its parser from these before TensorFlow is imported (so that
``ddc-tf --help`` and argument errors are instant); the modules that use them import them
from here (``ddc_tf.losses``, ``ddc_tf.selection``, ``ddc_tf.experiments.training``,
``ddc_tf.models``, ``ddc_tf.serving.export``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "BACKBONE_CHOICES",
    "DEFAULT_DISTILL_STEPS",
    "DEFAULT_EXPORT_DIR",
    "DEFAULT_NEIGHBORS",
    "default_neighbors",
    "DEFAULT_REL_SIGMA",
    "DEFAULT_SELECTOR",
    "DEFAULT_SIGMA_MODE",
    "LR_SCHEDULES",
    "METHOD_NAMES",
    "SELECTORS",
    "SIGMA_MODES",
    "STRATEGIES",
    "SigmaMode",
]

SigmaMode = Literal["reference", "paper"]
#: Bandwidth conventions of the DDC kernel (``ddc_tf.losses.bandwidth_sq``).
SIGMA_MODES: tuple[str, ...] = ("reference", "paper")
#: Default bandwidth convention. "reference" (σ² = 0.15 · median D) clustered better than
#: the paper's wording (σ = 0.15 · median sqrt(D)) on real data; see README "Bandwidth" and
#: ``benchmarks/sigma_mode.py`` for the measurement.
DEFAULT_SIGMA_MODE: SigmaMode = "reference"
#: The paper's relative bandwidth.
DEFAULT_REL_SIGMA = 0.15
#: Label-free run selectors (``ddc_tf.selection.rank_runs``).
SELECTORS: tuple[str, ...] = ("loss", "l1", "consensus")
#: The protocol's default selector (see the README's selection table for the measurement).
DEFAULT_SELECTOR = "consensus"
#: ``ddc-tf fit --distill-steps``: mini-batches that fine-tune the chosen run on DDC-ENSEMBLE
#: (DDC-DISTILLED, ``ddc_tf.experiments.distill``); 0 exports the chosen run as it is.
DEFAULT_DISTILL_STEPS = 300
#: ``ddc-tf fit --neighbors``: each training point is paired with one of its this many nearest
#: input-space neighbours and DDC's objective gains the neighbour-consistency term
#: (``ddc_tf.losses.neighbors``; README "Beating k-means", item 8); 0 trains the paper's loss.
DEFAULT_NEIGHBORS = 10


def default_neighbors(method: str, backbone: str, n: int | None = None, strategy: str = "none") -> int:
    """The neighbours per point ``ddc-tf fit``, ``DDCClustering``, the presets and the demo use
    when none is given: ``DEFAULT_NEIGHBORS`` (at most ``n`` − 1) for DDC with the MLP on one
    device; 0 — the paper's loss — with the CNN (on Fashion-MNIST the term traded ACC for
    NMI), for the siblings (they do not support it) and under a ``tf.distribute`` strategy."""
    if method != "ddc" or backbone != "mlp" or strategy != "none":
        return 0
    return DEFAULT_NEIGHBORS if n is None else min(DEFAULT_NEIGHBORS, n - 1)
#: Values of ``TrainConfig.lr_schedule``.
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
#: Values of ``TrainConfig.strategy``.
STRATEGIES: tuple[str, ...] = ("none", "mirrored", "multiworker")
#: Clustering losses, ``TrainConfig.method`` (``ddc_tf.models.METHODS`` maps them to classes).
METHOD_NAMES: tuple[str, ...] = ("ddc", "ot", "dcan")
#: Values of ``TrainConfig.backbone``.
BACKBONE_CHOICES: tuple[str, ...] = ("auto", "conv", "mlp")
#: Where exports go by default: under the ignored ``outputs/`` (the tracked ``saved_models/``
#: holds only the example model).
DEFAULT_EXPORT_DIR = "outputs/saved_models"
