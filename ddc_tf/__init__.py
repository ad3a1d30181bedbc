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

import os as _os
import sys as _sys

from ddc_tf._version import __version__  # noqa: F401


def _load_public_api() -> None:
    """Import TensorFlow (its start-up notices filtered) and the public names below."""
    from ddc_tf._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # before anything else imports TensorFlow
    from ddc_tf import data, evaluation, losses, selection  # noqa: F401
    from ddc_tf.baselines import kmeans, kmeans_baseline  # noqa: F401
    from ddc_tf.evaluation import accuracy, align_labels, cluster_metrics, nmi, vote  # noqa: F401
    from ddc_tf.losses import ddc_loss  # noqa: F401
    from ddc_tf.models import DCAN, DDC, ClusteringModel, OTClustering  # noqa: F401  (registers them)
    from ddc_tf.experiments.protocol import run_protocol  # noqa: F401
    from ddc_tf.experiments.training import TrainConfig, train_run  # noqa: F401

    globals().update({name: value for name, value in locals().items() if name in __all__})


#: Sub-packages ``ddc_tf.<name>`` imports on first attribute access.
_LAZY_SUBMODULES = ("baselines", "callbacks", "checks", "experiments", "models", "options", "run_files",
                    "serving", "sklearn", "viz")

#: ``python -m`` targets that run the command line (``ddc_tf.cli``'s ``__main__``, and ours).
_COMMAND_LINE_MODULES = ("ddc_tf.cli", "ddc_tf.cli.__main__", "ddc_tf", "ddc_tf.__main__")


def _started_as_the_command_line() -> bool:
    """True in the ``ddc-tf`` console script and under ``python -m ddc_tf.cli`` (or ``-m ddc_tf``):
    the command line parses its arguments before TensorFlow loads (``--help`` and argument errors
    in well under a second), then imports what the command needs."""
    if _sys.argv and _os.path.basename(_sys.argv[0]) in ("ddc-tf", "ddc-tf.exe"):
        return True
    # while ``python -m X`` imports X's parent packages, sys.argv[0] is "-m"; the interpreter's
    # own arguments (Python ≥ 3.10) say which module runs
    original = list(getattr(_sys, "orig_argv", ()))
    if "-m" in original[:-1]:
        return original[original.index("-m") + 1] in _COMMAND_LINE_MODULES
    return False


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

if _started_as_the_command_line():

    _loading = False

    def __getattr__(name: str):  # the public names, on first use
        global _loading
        if name in ("data", "evaluation", "losses", "selection"):  # a sub-module: just that one
            import importlib

            return importlib.import_module(f"ddc_tf.{name}")
        if name in __all__ and not _loading:  # while loading, `from ddc_tf import data` imports the module
            _loading = True
            try:
                _load_public_api()
            finally:
                _loading = False
            return globals()[name]
        raise AttributeError(f"module 'ddc_tf' has no attribute {name!r}")

else:
    _load_public_api()

    def __getattr__(name: str):
        """The sub-packages not imported with the package (``ddc_tf.viz``, ``ddc_tf.sklearn``,
        ``ddc_tf.serving``, ...), on first use, as the README writes them."""
        if name in _LAZY_SUBMODULES:
            import importlib

            return importlib.import_module(f"ddc_tf.{name}")
        raise AttributeError(f"module 'ddc_tf' has no attribute {name!r}")
