"""The paper's figures as matplotlib PNGs (Agg backend): one function per figure.

=========================  ==========================================================
function                   paper figure
=========================  ==========================================================
:func:`plot_circles`       Fig. 3: synthetic circles — data, k-means, DDC
:func:`plot_simplex`       Fig. 4: the output simplex of a 3-cluster model, in 2-D
:func:`plot_top_images`    Figs. 6–8: the N most confident images of every cluster
:func:`plot_training_curves` Fig. 9a: loss terms and ACC over training (rescaled to [0, 1])
:func:`plot_kernel_matrix` Fig. 10: kernel on the hidden representation, sorted by cluster
:func:`plot_guided_backprop` Fig. 11: guided-backprop saliency in red over the input
=========================  ==========================================================

Every function checks the shapes of its inputs (``ValueError`` naming the argument and
the expected shape), writes a PNG to ``out`` (parent folders are created) and returns the
``Path`` written. Inputs are numpy arrays, so the functions work for any model; the
notebooks and ``ddc-tf plot`` show how to get them from a trained DDC model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ddc_tf.checks import counted  # noqa: E402

__all__ = [
    "plot_circles",
    "plot_simplex",
    "simplex_coordinates",
    "plot_top_images",
    "plot_training_curves",
    "plot_kernel_matrix",
    "kernel_matrix",
    "plot_guided_backprop",
    "as_images",
]

DPI = 100
_CMAP = "tab10"


# --------------------------------------------------------------------------- checks
def _array(value: Any, name: str, ndim: int | Sequence[int], dtype: Any = np.float64) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array: {error}") from None
    ndims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in ndims:
        wanted = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {wanted}, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    return array


def _labels(value: Any, name: str, n: int) -> np.ndarray:
    labels = np.asarray(value)
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one label per point), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def _probabilities(value: Any, name: str, k: int | None = None) -> np.ndarray:
    p = _array(value, name, 2)
    if k is not None and p.shape[1] != k:
        raise ValueError(f"{name} must have shape (n, {k}) (one column per cluster), got {p.shape}")
    if p.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 cluster columns, got shape {p.shape}")
    return p


def _save(fig: plt.Figure, out: str | os.PathLike) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def as_images(x: Any, image_shape: Sequence[int] | None = None, name: str = "images") -> np.ndarray:
    """``(n, h, w)`` grey or ``(n, h, w, 3)`` colour images from images or flat vectors.

    Args:
        x: ``(n, h, w)``, ``(n, h, w, 1|3)``, or ``(n, d)`` with ``image_shape``.
        image_shape: ``(h, w)`` or ``(h, w, c)`` to reshape flat vectors (e.g. ``(8, 8)``
            for digits: ``ArrayData.image_shape``).
    """
    x = _array(x, name, (2, 3, 4), dtype=np.float32)
    if x.ndim == 2:
        if image_shape is None:
            raise ValueError(f"{name} are flat vectors of shape {x.shape}; pass image_shape=(h, w) to draw them")
        if int(np.prod(image_shape)) != x.shape[1]:
            raise ValueError(f"image_shape {tuple(image_shape)} does not hold vectors of length {x.shape[1]}")
        x = x.reshape((x.shape[0], *tuple(image_shape)))
    if x.ndim == 4:
        if x.shape[-1] == 1:
            x = x[..., 0]
        elif x.shape[-1] != 3:
            raise ValueError(f"{name} must have 1 or 3 channels, got shape {x.shape}")
    return x


def _normalise(img: np.ndarray) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


# --------------------------------------------------------------------------- Fig. 3
def plot_circles(
    x: Any, kmeans_clusters: Any, ddc_clusters: Any, out: str | os.PathLike, labels: Any = None,
) -> Path:
    """Fig. 3: 2-D data (coloured by true class), k-means clusters, DDC clusters.

    Args:
        x: ``(n, 2)`` points.
        kmeans_clusters, ddc_clusters: ``(n,)`` integer cluster ids.
        out: PNG path.
        labels: ``(n,)`` true classes for the first panel (``None``: data in one colour).
    """
    x = _array(x, "x", 2)
    if x.shape[1] != 2:
        raise ValueError(f"x must be 2-D points of shape (n, 2), got {x.shape}")
    n = x.shape[0]
    panels = [("(a) data" + (" (true classes)" if labels is not None else ""),
               None if labels is None else _labels(labels, "labels", n)),
              ("(b) k-means", _labels(kmeans_clusters, "kmeans_clusters", n)),
              ("(c) DDC", _labels(ddc_clusters, "ddc_clusters", n))]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), sharex=True, sharey=True)
    cmap = plt.get_cmap(_CMAP)
    for ax, (title, ids) in zip(axes, panels):
        if ids is None:
            ax.scatter(x[:, 0], x[:, 1], s=6, color="0.3")
        else:
            for c in np.unique(ids):
                m = ids == c
                kind = "class" if title.startswith("(a)") else "cluster"
                ax.scatter(x[m, 0], x[m, 1], s=6, color=cmap(int(c) % 10), label=f"{kind} {c}")
            ax.legend(loc="upper right", fontsize="small", markerscale=2, framealpha=0.8)
        ax.set_title(title)
        ax.set_xlabel("$x_1$")
        ax.set_aspect("equal", adjustable="box")
    axes[0].set_ylabel("$x_2$")
    fig.suptitle("Clustering non-convex data: k-means vs DDC (paper Fig. 3)")
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------- Fig. 4
#: Corners of the 2-simplex in the plane (an equilateral triangle).
_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def simplex_coordinates(probabilities: Any) -> np.ndarray:
    """Project 3-cluster probabilities ``(n, 3)`` to 2-D points in an equilateral triangle
    (cluster i's corner = one-hot e_i; the centre = uniform assignment)."""
    p = _probabilities(probabilities, "probabilities", 3)
    return p @ _CORNERS


def _class_name(c: int, class_names: Sequence[str] | None) -> str:
    """Class ``c``'s name from ``class_names``, or ``class c`` when it has none."""
    return class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"


def corner_caption(cluster: int, assigned: np.ndarray, labels: np.ndarray | None = None,
                   class_names: Sequence[str] | None = None, max_classes: int = 2) -> str:
    """The label of a simplex corner: the cluster, how many points it holds and, when true
    classes are known, the largest classes among them as shares of the cluster.

    Args:
        cluster: the corner's cluster id.
        assigned: ``(n,)`` each point's cluster (argmax of its probabilities).
        labels: ``(n,)`` true classes, or ``None``.
        class_names: names for the classes (default ``class 0`` ...).
        max_classes: how many classes to name (the rest are summed as "other").

    Returns:
        e.g. ``"cluster 1: 215 points\n54 % class 0, 35 % class 1, 11 % other"``.
    """
    members = assigned == cluster
    size = int(members.sum())
    head = f"cluster {cluster}: {counted(size, 'point')}"
    if labels is None or size == 0:
        return head
    counts = np.bincount(labels[members])
    order = [c for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    parts = []
    for c in order[:max_classes]:
        parts.append(f"{100 * counts[c] / size:.0f} % {_class_name(c, class_names)}")
    rest = int(sum(counts[c] for c in order[max_classes:]))
    if rest:
        parts.append(f"{100 * rest / size:.0f} % other")
    return head + "\n" + ", ".join(parts)


def plot_simplex(
    probabilities: Any | Mapping[str, Any], out: str | os.PathLike, labels: Any = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Fig. 4: the output space of a 3-cluster model, one triangle per training stage.

    Args:
        probabilities: ``(n, 3)`` softmax outputs, or ``{stage title: (n, 3)}`` (e.g.
            before, during and after training) — one panel each.
        out: PNG path.
        labels: ``(n,)`` true classes colouring the points (``None``: one colour); each
            corner is labelled with its cluster's size and, given labels, the shares of its
            largest classes (``corner_caption``).
        class_names: names for the legend (default ``class 0`` ...).
    """
    stages = dict(probabilities) if isinstance(probabilities, Mapping) else {"output space": probabilities}
    if not stages:
        raise ValueError("probabilities: give at least one (n, 3) array")
    points = {title: simplex_coordinates(p) for title, p in stages.items()}
    n = next(iter(points.values())).shape[0]
    for title, pts in points.items():
        if pts.shape[0] != n:
            raise ValueError(f"stage {title!r} has {pts.shape[0]} points, the first stage {n}")
    ids = None if labels is None else _labels(labels, "labels", n)
    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 4.2), squeeze=False)
    cmap = plt.get_cmap(_CMAP)
    for ax, (title, pts) in zip(axes[0], points.items()):
        triangle = np.vstack([_CORNERS, _CORNERS[:1]])
        ax.plot(triangle[:, 0], triangle[:, 1], color="0.4", lw=1)
        if ids is None:
            ax.scatter(pts[:, 0], pts[:, 1], s=5, alpha=0.5, color="C0")
        else:
            for c in np.unique(ids):
                m = ids == c
                ax.scatter(pts[m, 0], pts[m, 1], s=5, alpha=0.5, color=cmap(int(c) % 10),
                           label=_class_name(c, class_names))
        p_stage = stages[title]
        assigned = np.asarray(p_stage).argmax(axis=1)
        for i, (cx, cy) in enumerate(_CORNERS):
            text = corner_caption(i, assigned, ids, class_names)
            ax.annotate(text, (cx, cy), textcoords="offset points",
                        xytext=(0, 6) if i == 2 else (0, -8), va="bottom" if i == 2 else "top",
                        ha="center", fontsize="x-small")
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.set_xlim(-0.25, 1.25)
        ax.set_ylim(-0.3, 1.1)
        ax.set_axis_off()  # barycentric: a point's distance to a corner is its probability's complement
    fig.suptitle("Cluster assignments on the probability simplex (paper Fig. 4)")
    if ids is not None:  # one legend under the panels, clear of the corner captions
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=min(len(names), 10), fontsize="small",
                   markerscale=3, frameon=False)
        fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    else:
        fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, out)


# --------------------------------------------------------------------------- Figs. 6–8
def plot_top_images(
    images: Any, probabilities: Any, out: str | os.PathLike, n_top: int = 10,
    image_shape: Sequence[int] | None = None, labels: Any = None, class_names: Sequence[str] | None = None,
) -> Path:
    """Figs. 6–8: one row per cluster with its ``n_top`` highest-membership images.

    Args:
        images: ``(n, h, w[, c])`` images or ``(n, d)`` vectors with ``image_shape``.
        probabilities: ``(n, k)`` cluster memberships (softmax outputs). A point is shown
            in the row of its most probable cluster, ranked by that probability.
        out: PNG path.
        n_top: images per row.
        labels: ``(n,)`` true classes: the row is titled with its majority class and
            images of another class get a red frame (the paper's Fig. 8 red box).
        class_names: names of the classes, for the rows' majority class (default ``class c``).
    """
    imgs = as_images(images, image_shape)
    n = imgs.shape[0]
    p = _probabilities(probabilities, "probabilities")
    if p.shape[0] != n:
        raise ValueError(f"probabilities has {p.shape[0]} rows for {n} images")
    if int(n_top) != n_top or n_top < 1:
        raise ValueError(f"n_top must be a whole number ≥ 1, got {n_top!r}")
    ids = None if labels is None else _labels(labels, "labels", n)
    k = p.shape[1]
    assigned = p.argmax(axis=1)
    fig, axes = plt.subplots(k, n_top, figsize=(0.9 * n_top + 1.6, 0.95 * k + 0.6), squeeze=False)
    for c in range(k):
        members = np.flatnonzero(assigned == c)
        order = members[np.argsort(-p[members, c], kind="stable")][:n_top]
        majority = None
        if ids is not None and len(members):
            majority = int(np.bincount(ids[members]).argmax())
        for j in range(n_top):
            ax = axes[c][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(order):
                i = order[j]
                ax.imshow(imgs[i], cmap="gray" if imgs.ndim == 3 else None, interpolation="nearest")
                ax.set_title(f"{p[i, c]:.2f}", fontsize=7, pad=2)
                if majority is not None and ids[i] != majority:
                    for spine in ax.spines.values():
                        spine.set_visible(True)
                        spine.set_color("red")
                        spine.set_linewidth(2.5)
        row = f"cluster {c}\n({len(members)} pts)"
        if majority is not None:
            row += f"\nmostly {_class_name(majority, class_names)}"
        axes[c][0].set_ylabel(row, rotation=0, ha="right", va="center", fontsize=8)
    title = f"Top {n_top} images per cluster by membership (paper Figs. 6–8)"
    if ids is not None:
        title += "\nred frame: class differs from the cluster's majority class"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------- Fig. 9a
_CURVE_STYLE = {"loss": ("Loss", 2.2, "-"), "l1": ("$l_1$", 1.2, "--"), "l2": ("$l_2$", 1.2, "--"),
                "l3": ("$l_3$", 1.2, "--"), "acc": ("ACC", 2.2, "-")}


def plot_training_curves(
    curves: str | os.PathLike | Mapping[str, Any], out: str | os.PathLike, term_labels: Mapping[str, str] | None = None
) -> Path:
    """Fig. 9a: the loss, its terms l1, l2, l3 and ACC over training, each rescaled to [0, 1].

    Args:
        curves: the CSV written by :class:`ddc_tf.callbacks.TrainingCurves` (``ddc-tf fit
            --log-curves``), or a mapping ``{"step": (t,), "loss": (t,), ...}`` with the
            columns ``step, loss, l1, l2, l3`` and optionally ``acc``.
        out: PNG path.
        term_labels: what l1–l3 are, for the legend: the ``TERM_LABELS`` of the model the
            curves were trained with (default DDC's).
    """
    if term_labels is None:
        from ddc_tf.models import DDC

        term_labels = DDC.TERM_LABELS
    if isinstance(curves, (str, os.PathLike)):
        from ddc_tf.callbacks import read_curves

        path = Path(curves)
        if not path.is_file():
            raise FileNotFoundError(f"training curves CSV not found: {path}")
        curves = read_curves(path)
    if not isinstance(curves, Mapping):
        raise ValueError(f"curves must be a CSV path or a mapping of columns, got {type(curves).__name__}")
    from ddc_tf.callbacks import REQUIRED_CURVE_COLUMNS

    missing = [c for c in REQUIRED_CURVE_COLUMNS if c not in curves]
    if missing:
        raise ValueError(f"curves lack the columns {missing}; expected {', '.join(REQUIRED_CURVE_COLUMNS)} (and acc)")
    steps = _array(curves["step"], "curves['step']", 1)
    if steps.shape[0] < 2:
        raise ValueError(f"curves need at least 2 rows to draw a curve, got {steps.shape[0]}")
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = 0
    for key, (label, width, style) in _CURVE_STYLE.items():
        if key not in curves:
            continue
        if key in term_labels:
            label = f"{label} ({term_labels[key]})"
        values = _array(curves[key], f"curves[{key!r}]", 1)
        if values.shape != steps.shape:
            raise ValueError(f"curves[{key!r}] has shape {values.shape}, curves['step'] {steps.shape}")
        if np.all(np.isnan(values)):
            continue
        lo, hi = np.nanmin(values), np.nanmax(values)
        scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
        ax.plot(steps, scaled, style, lw=width, label=f"{label}  [{lo:.3g}, {hi:.3g}]")
        drawn += 1
    ax.set_xlabel("training iteration")
    ax.set_ylabel("value rescaled to [0, 1]")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize="small", title="curve  [min, max]", title_fontsize="small")
    ax.set_title("Loss terms and clustering accuracy during training (paper Fig. 9a)")
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------- Fig. 10
def kernel_matrix(hidden: Any, rel_sigma: float | None = None, sigma_mode: str | None = None) -> np.ndarray:
    """The DDC Gaussian kernel ``(n, n)`` on hidden representations ``(n, d)``, with the
    training bandwidth rule (:func:`ddc_tf.losses.bandwidth_sq`)."""
    from ddc_tf import losses

    h = _array(hidden, "hidden", 2, dtype=np.float32)
    d = losses.pairwise_sq_dists(h)
    sigma_sq = losses.bandwidth_sq(
        d, rel_sigma=losses.DEFAULT_REL_SIGMA if rel_sigma is None else rel_sigma,
        sigma_mode=sigma_mode or losses.DEFAULT_SIGMA_MODE,
    )
    return losses.gaussian_kernel(d, sigma_sq).numpy()


def plot_kernel_matrix(
    hidden: Any, clusters: Any, out: str | os.PathLike, *, rel_sigma: float | None = None,
    sigma_mode: str | None = None, max_points: int = 1000, seed: int = 0, sort_label: str = "cluster",
    max_pixels: int = 250,
) -> Path:
    """Fig. 10: the kernel matrix on the hidden representation, points sorted by cluster.

    Args:
        hidden: ``(n, d)`` hidden representations (``model.embed(x)``).
        clusters: ``(n,)`` ids to sort by — predicted clusters, or true classes as in the
            paper (then pass ``sort_label="class"``).
        out: PNG path.
        rel_sigma, sigma_mode: the model's bandwidth settings (default: the package's).
        max_points: at most this many points (drawn with ``seed``) — the matrix is n².
        max_pixels: larger matrices are drawn block-averaged to this many cells a side.
    """
    h = _array(hidden, "hidden", 2, dtype=np.float32)
    ids = _labels(clusters, "clusters", h.shape[0])
    if max_points < 2:
        raise ValueError(f"max_points must be ≥ 2, got {max_points}")
    idx = np.arange(h.shape[0])
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(idx), max_points, replace=False))
    idx = idx[np.argsort(ids[idx], kind="stable")]
    k_matrix = kernel_matrix(h[idx], rel_sigma, sigma_mode)
    sorted_ids = ids[idx]
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    n_shown = len(idx)
    if n_shown > max_pixels:  # block-average to at most max_pixels² cells: small PNG, same blocks
        edges = np.linspace(0, n_shown, max_pixels + 1).astype(int)[:-1]
        counts = np.diff(np.append(edges, n_shown)).astype(np.float64)
        k_matrix = np.add.reduceat(np.add.reduceat(k_matrix, edges, axis=0), edges, axis=1)
        k_matrix = k_matrix / counts[:, None] / counts[None, :]
    im = ax.imshow(k_matrix, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest",
                   extent=(-0.5, n_shown - 0.5, n_shown - 0.5, -0.5))
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 0.5
    for b in bounds:
        ax.axhline(b, color="tab:red", lw=0.6, alpha=0.7)
        ax.axvline(b, color="tab:red", lw=0.6, alpha=0.7)
    starts = np.concatenate([[0], np.ceil(bounds).astype(int)])
    ends = np.concatenate([np.ceil(bounds).astype(int), [len(idx)]])
    ticks = (starts + ends - 1) / 2
    ax.set_xticks(ticks, [str(c) for c in sorted_ids[starts]], fontsize=7)
    ax.set_yticks(ticks, [str(c) for c in sorted_ids[starts]], fontsize=7)
    ax.set_xlabel(f"points sorted by {sort_label}")
    ax.set_ylabel(f"points sorted by {sort_label}")
    fig.colorbar(im, ax=ax, label="kernel value $k(h_i, h_j)$", fraction=0.046, pad=0.04)
    ax.set_title(f"Kernel matrix on the hidden layer, {len(idx)} points (paper Fig. 10)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------- Fig. 11
def plot_guided_backprop(
    images: Any, saliency: Any, out: str | os.PathLike, clusters: Any = None,
    image_shape: Sequence[int] | None = None, max_images: int = 10,
) -> Path:
    """Fig. 11: inputs (top row) and guided-backprop saliency in red over them (bottom row).

    Args:
        images: ``(n, h, w[, c])`` or ``(n, d)`` with ``image_shape``.
        saliency: the same shape as ``images`` (:meth:`GuidedBackprop.saliency`). Only the
            positive part is drawn, scaled per image to [0, 1].
        out: PNG path.
        clusters: ``(n,)`` cluster each saliency map explains (shown in the titles).
        max_images: draw at most this many (the first ones).
    """
    imgs = as_images(images, image_shape, "images")
    sal = as_images(saliency, image_shape, "saliency")
    if sal.shape != imgs.shape:
        raise ValueError(f"saliency has shape {np.shape(saliency)}, expected the shape of images {np.shape(images)}")
    n = min(imgs.shape[0], int(max_images))
    ids = None if clusters is None else _labels(clusters, "clusters", imgs.shape[0])
    fig, axes = plt.subplots(2, n, figsize=(1.25 * n + 0.8, 3.0), squeeze=False)
    for j in range(n):
        grey = _normalise(imgs[j] if imgs.ndim == 3 else imgs[j].mean(axis=-1))
        s = sal[j] if sal.ndim == 3 else sal[j].max(axis=-1)
        s = np.maximum(s, 0)
        s = s / s.max() if s.max() > 0 else s
        overlay = np.stack([grey * 0.55] * 3, axis=-1)
        overlay[..., 0] = np.clip(overlay[..., 0] + s, 0, 1)  # red where the saliency is high
        overlay[..., 1] *= 1 - s
        overlay[..., 2] *= 1 - s
        axes[0][j].imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[1][j].imshow(overlay, interpolation="nearest")
        if ids is not None:
            axes[0][j].set_title(f"cluster {ids[j]}", fontsize=8)
        for ax in (axes[0][j], axes[1][j]):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_ylabel("input", fontsize=9)
    axes[1][0].set_ylabel("guided\nbackprop", fontsize=9)
    fig.suptitle("Guided backpropagation: pixels raising the cluster's score, in red (paper Fig. 11)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)
