"""The paper's figures for a trained model on its data (what ``ddc-tf plot`` writes).

:func:`write_figures` writes every figure that applies: Figs. 3, 4, 6–8, 9a, 10 and 11.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ddc_tf.baselines import kmeans
from ddc_tf.checks import error_summary
from ddc_tf.models.base import model_input_shape
from ddc_tf.viz import plots
from ddc_tf.viz.guided_backprop import GuidedBackprop

__all__ = ["FIGURE_FILES", "most_confident", "write_figures"]

#: File names of the figures, by paper figure.
FIGURE_FILES = {
    "fig3": "fig3_circles_kmeans_vs_ddc.png",
    "fig4": "fig4_output_simplex.png",
    "fig6_8": "fig6-8_top_images_per_cluster.png",
    "fig9a": "fig9a_training_curves.png",
    "fig10": "fig10_kernel_matrix.png",
    "fig11": "fig11_guided_backprop.png",
}


def _predict(model: Any, x: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    probs, hidden = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        probs.append(np.asarray(model(batch, training=False), np.float32))
        hidden.append(np.asarray(model.embed(batch, training=False), np.float32))
    return np.concatenate(probs), np.concatenate(hidden)


def most_confident(probabilities: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` points to explain: the most confident point of every cluster first
    (cluster by cluster), then the next most confident of each, and so on.

    Args:
        probabilities: ``(m, k)`` soft assignments.
        n: how many indices (at most ``m``).

    Returns:
        ``(min(n, m),)`` int64 row indices.
    """
    probabilities = np.asarray(probabilities)
    clusters = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    ranked = [np.flatnonzero(clusters == c)[np.argsort(-confidence[clusters == c], kind="stable")]
              for c in range(probabilities.shape[1])]
    order = [members[depth] for depth in range(max((len(m) for m in ranked), default=0))
             for members in ranked if depth < len(members)]
    return np.asarray(order[: min(n, len(order))], dtype=np.int64)




def write_figures(
    model: Any,
    data: Any,
    out_dir: str | os.PathLike,
    *,
    curves: str | os.PathLike | None = None,
    n_top: int = 10,
    max_points: int = 5000,
    kernel_points: int = 1000,
    n_explain: int | None = None,
    seed: int = 0,
) -> dict[str, Path]:
    """Write every paper figure that applies to ``model`` on ``data``.

    * Fig. 3 (data, k-means, DDC side by side): 2-D data such as ``circles``.
    * Fig. 4 (output simplex): 3-cluster models.
    * Figs. 6–8 (top images per cluster) and Fig. 11 (guided backprop of each cluster's most
      confident image): image data, or
      vectors with an ``image_shape`` (digits).
    * Fig. 9a (loss terms vs ACC): when ``curves`` (a ``--log-curves`` CSV) is given.
    * Fig. 10 (kernel matrix on the hidden layer): always; sorted by true class when the
      data has labels (as in the paper), else by cluster.

    Figures an earlier call left in ``out_dir`` (under these file names) are removed first.

    Args:
        model: a trained clustering model (DDC, OTClustering or DCAN).
        data: the ``ArrayData`` it was trained on (``ddc_tf.data.load_arrays``), dense or sparse
            (a sparse one's ``max_points`` rows are densified).
        out_dir: folder for the PNGs.
        max_points: predict on at most this many points (a random subset, ``seed``).
        n_explain: images Fig. 11 explains (the most confident of each cluster first); default
            ``max(10, k)``, so that every cluster has one.

    Returns:
        ``{figure key: path}`` of the files written.
    """
    shape = tuple(data.input_shape)
    model_shape = model_input_shape(model)
    if curves is not None:  # a bad file is refused before any figure is written
        from ddc_tf.callbacks import read_curves

        curves_file, curves = curves, read_curves(curves)
        if len(curves["step"]) < 2:
            raise ValueError(f"{curves_file}: curves need at least 2 rows to draw a curve, got {len(curves['step'])}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for file in FIGURE_FILES.values():  # an earlier call's figures (of another model) would pass for this one's
        (out / file).unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    idx = np.arange(data.n)
    if data.n > max_points:
        idx = np.sort(rng.choice(data.n, max_points, replace=False))
    # the points predicted on (at most max_points), dense: sparse rows (TF-IDF) are densified here
    x = data.x[idx].toarray().astype(np.float32) if data.is_sparse else np.asarray(data.x[idx], np.float32)
    y = None if data.y is None else data.y[idx]
    try:
        probs, hidden = _predict(model, x)
    except Exception as error:  # a shape mismatch surfaces deep inside Keras
        if model_shape is not None and tuple(model_shape) != shape:  # the shapes say it all
            raise ValueError(f"the model cannot run on {data.name} inputs of shape {shape} "
                             f"(model expects {tuple(model_shape)})") from None
        raise ValueError(f"the model cannot run on {data.name} inputs of shape {shape}: "
                         f"{error_summary(error)}") from None
    clusters = probs.argmax(axis=1)
    written: dict[str, Path] = {}
    name = data.name

    if len(shape) == 1 and shape[0] == 2:
        km = kmeans(x, probs.shape[1], seed=seed)
        written["fig3"] = plots.plot_circles(x, km, clusters, out / FIGURE_FILES["fig3"], labels=y)
    if probs.shape[1] == 3:
        written["fig4"] = plots.plot_simplex({f"{name}: trained model": probs}, out / FIGURE_FILES["fig4"],
                                             labels=y, class_names=data.class_names)
    image_shape = shape if data.kind == "image" else data.image_shape
    if image_shape is not None:
        written["fig6_8"] = plots.plot_top_images(x, probs, out / FIGURE_FILES["fig6_8"], n_top=n_top,
                                                  image_shape=image_shape, labels=y, class_names=data.class_names)
        n_explain = max(10, probs.shape[1]) if n_explain is None else n_explain
        pick = most_confident(probs, n_explain)  # the top-confidence image of each cluster
        saliency, explained = GuidedBackprop(model).saliency(x[pick])
        written["fig11"] = plots.plot_guided_backprop(x[pick], saliency, out / FIGURE_FILES["fig11"],
                                                      clusters=explained, image_shape=image_shape,
                                                      max_images=n_explain)
    if curves is not None:
        written["fig9a"] = plots.plot_training_curves(curves, out / FIGURE_FILES["fig9a"],
                                                      term_labels=getattr(model, "TERM_LABELS", None))
    written["fig10"] = plots.plot_kernel_matrix(
        hidden, clusters if y is None else y, out / FIGURE_FILES["fig10"],
        rel_sigma=getattr(model, "rel_sigma", None), sigma_mode=getattr(model, "sigma_mode", None),
        max_points=kernel_points, seed=seed, sort_label="cluster" if y is None else "true class",
    )
    return written
