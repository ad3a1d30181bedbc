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
    "SIBLING_NEIGHBORS",
    "default_neighbors",
    "DEFAULT_PRETRAIN_STEPS",
    "DEFAULT_RUNS_AT_ONCE",
    "default_runs_at_once",
    "default_pretrain_steps",
    "KMEANS_INIT_STEPS",
    "MIN_VOTE_RUNS",
    "REFINE_START_STEPS",
    "REFINED_RUN_STEPS",
    "DEFAULT_REFINE_RUNS",
    "default_refine_runs",
    "DEFAULT_REL_SIGMA",
    "IMAGE_EXTENSIONS",
    "DEFAULT_SELECTOR",
    "DEFAULT_SIGMA_MODE",
    "LR_SCHEDULES",
    "METHOD_NAMES",
    "PRECISIONS",
    "bf16_default_applies",
    "SELECTORS",
    "SIGMA_MODES",
    "STRATEGIES",
    "SigmaMode",
]

#: File name endings an image folder's images have (``ddc_tf.data.images``; case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

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
SELECTORS: tuple[str, ...] = ("loss", "l1", "consensus", "ensemble")
#: The protocol's default selector (see the README's selection table for the measurement).
DEFAULT_SELECTOR = "consensus"
#: ``ddc-tf fit --distill-steps``: mini-batches that fine-tune the chosen run on DDC-ENSEMBLE
#: (DDC-DISTILLED, ``ddc_tf.experiments.distill``); 0 exports the chosen run as it is.
DEFAULT_DISTILL_STEPS = 300
#: ``ddc-tf fit --curve-subset``, ``TrainingCurves(subset=)``: points the training curves are
#: evaluated on (a fixed, seeded random subset).
DEFAULT_CURVE_SUBSET = 2000
#: ``ddc-tf fit --neighbors`` for DDC: each training point is paired with one of its this many
#: nearest input-space neighbours and DDC's objective gains the neighbour-consistency term
#: (``ddc_tf.losses.neighbors``; README "Beating k-means", item 8); 0 trains the paper's loss.
#: 5 rather than 10: the fewer, purer pairs (20news: 82 % of 5-neighbour pairs share a
#: category, 78 % of 10) lifted 20news's saved model from 0.669 to 0.702 ACC over six
#: protocols, digits level (``benchmarks/results/distill_*_neighbors5.json``).
DEFAULT_NEIGHBORS = 5
#: The same for OT and DCAN (their neighbour term is a latent distance; measured at 10 only:
#: README "Sibling losses").
SIBLING_NEIGHBORS = 10


def default_neighbors(method: str, backbone: str, n: int | None = None, strategy: str = "none") -> int:
    """The neighbours per point ``ddc-tf fit``, ``DDCClustering``, the presets and the demo use
    when none is given: ``DEFAULT_NEIGHBORS`` for DDC, ``SIBLING_NEIGHBORS`` for OT and DCAN
    (at most ``n`` − 1), with the MLP on one device (DDC: digits and 20news; OT and DCAN:
    digits — README "Sibling losses"), for OT with the CNN too (its size constraint keeps
    every cluster filled: Fashion-MNIST); 0 — the method's own loss — for DDC and DCAN with
    the CNN (DDC on Fashion-MNIST emptied clusters and traded ACC for NMI) and under a
    ``tf.distribute`` strategy."""
    if strategy != "none" or (backbone != "mlp" and method != "ot"):
        return 0
    k = DEFAULT_NEIGHBORS if method == "ddc" else SIBLING_NEIGHBORS
    return k if n is None else max(0, min(k, n - 1))


#: ``ddc-tf fit --kmeans-init N`` / ``TrainConfig.kmeans_init``: the mini-batches that fit a fresh DDC
#: network to a k-means++ partition before DDC trains it, when the option is turned on without a
#: value in mind. Off by default: it lifts single runs on digits and 20news but traps DDC in
#: k-means' convex clusters where the data's are not (circles: ACC 1.00 → 0.52; README "Beating
#: k-means", item 9).
KMEANS_INIT_STEPS = 300


#: DDC-VOTE and DDC-ENSEMBLE need at least this many runs (the paper votes over the best three,
#: §4.6); ``ddc_tf.selection`` uses it, and the refined runs, which start from the ensemble.
MIN_VOTE_RUNS = 3


#: ``ddc-tf fit --refine-steps`` / ``run_protocol(refine_steps=)``: the mini-batches that fit a
#: refined run's fresh network to DDC-ENSEMBLE before DDC trains it (as DDC-DISTILLED's 300).
REFINE_START_STEPS = 300
#: ``ddc-tf fit --refine-run-steps`` / ``run_protocol(refine_run_steps=)``: the DDC mini-batches a
#: refined run trains after its start (at most the independent runs' steps). A refined run's
#: partition is settled within its first ~1 000 steps and then stays (digits, 20news) or drifts
#: down (20news NMI); 3 000 cost 2 000 more steps per run for no gain (README "Beating k-means",
#: item 10; ``benchmarks/refine_length.py``).
REFINED_RUN_STEPS = 1000
#: ``ddc-tf fit --refine-runs``: runs added to a DDC protocol that start from its DDC-ENSEMBLE
#: (README "Beating k-means", item 10).
DEFAULT_REFINE_RUNS = 3


def default_refine_runs(method: str, runs: int, strategy: str = "none") -> int:
    """Refined runs when none are asked for: ``DEFAULT_REFINE_RUNS`` for DDC on one device with
    at least ``MIN_VOTE_RUNS`` runs (DDC-ENSEMBLE needs them); 0 for OT and DCAN (not measured)
    and otherwise."""
    return DEFAULT_REFINE_RUNS if method == "ddc" and runs >= MIN_VOTE_RUNS and strategy == "none" else 0


#: ``ddc-tf fit --pretrain-steps`` for the siblings: their backbone starts from a DDC run of this
#: many steps (the pretrained feature extractor DCAN's author recommends; README "Sibling losses").
DEFAULT_PRETRAIN_STEPS = 1000


def default_pretrain_steps(method: str, steps: int | None = None) -> int | None:
    """DDC-pretraining steps of a method's backbone when none are given: ``DEFAULT_PRETRAIN_STEPS``
    (at most the run's own ``steps``) for OT and DCAN (from scratch, OT's saved model fell below
    k-means++ on Fashion-MNIST and DCAN's on digits and Fashion-MNIST), ``None`` for DDC."""
    if method not in ("ot", "dcan"):
        return None
    return DEFAULT_PRETRAIN_STEPS if steps is None else min(DEFAULT_PRETRAIN_STEPS, steps)


#: ``ddc-tf fit --runs-at-once``: runs trained together in one program (``run_protocol``'s
#: ``runs_at_once``); ``benchmarks/protocol_throughput.py``: ×1.2–1.3 per run for the CNN and
#: ×1.6–1.75 for the MLP at R = 2–10 on 2 cores, so a small group keeps the memory low.
DEFAULT_RUNS_AT_ONCE = 4


def default_runs_at_once(runs: int, strategy: str = "none", per_run_callbacks: bool = False) -> int:
    """Runs trained together when none is given: ``DEFAULT_RUNS_AT_ONCE`` (at most ``runs``) on
    one device; 1 under a ``tf.distribute`` strategy or with per-run callbacks (TensorBoard,
    training curves), which a group does not take."""
    if strategy != "none" or per_run_callbacks:
        return 1
    return max(1, min(DEFAULT_RUNS_AT_ONCE, runs))


#: ``ddc-tf fit --mixed-precision``: ``auto`` is bf16 where :func:`bf16_default_applies` and the
#: machine has bf16 arithmetic (``ddc_tf.hardware.bf16_arithmetic``), float32 otherwise; the others
#: name the network's compute dtype (the loss stays float32 under every policy).
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


def bf16_default_applies(method: str, backbone: str, *, strategy: str = "none", jit: bool = False) -> bool:
    """Whether ``--mixed-precision auto`` trains in bf16 on a machine with bf16 arithmetic: for DDC's
    CNN on one device without XLA, where it was measured (``benchmarks/precision_quality.py``,
    README "Speed"). The MLP gained little, and OT, DCAN, XLA and strategies were not measured
    in bf16, so they keep float32 unless asked."""
    return method == "ddc" and backbone == "conv" and strategy == "none" and not jit


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
