"""Each figure function writes a non-empty PNG and rejects wrongly shaped inputs clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ddc_tf.viz import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RNG = np.random.default_rng(0)


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG_MAGIC


def test_circles(tmp_path):
    x = RNG.normal(size=(40, 2))
    ids = np.arange(40) % 2
    out = plots.plot_circles(x, ids, 1 - ids, tmp_path / "a" / "circles.png", labels=ids)
    assert _is_png(out)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plots.plot_circles(RNG.normal(size=(40, 3)), ids, ids, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"ddc_clusters must have shape \(40,\)"):
        plots.plot_circles(x, ids, ids[:10], tmp_path / "x.png")


def test_simplex(tmp_path):
    p = RNG.dirichlet([1, 1, 1], 30)
    out = plots.plot_simplex({"start": p, "end": p}, tmp_path / "simplex.png", labels=p.argmax(1))
    assert _is_png(out)
    assert _is_png(plots.plot_simplex(p, tmp_path / "one.png"))
    np.testing.assert_allclose(plots.simplex_coordinates(np.eye(3)), plots._CORNERS)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        plots.plot_simplex(RNG.dirichlet([1] * 4, 30), tmp_path / "x.png")
    with pytest.raises(ValueError, match="labels must have shape"):
        plots.plot_simplex(p, tmp_path / "x.png", labels=np.zeros(5, int))


def test_simplex_corner_captions_say_size_and_class_shares():
    assigned = np.array([1] * 6 + [1] * 3 + [1] + [0] * 2)
    labels = np.array([0] * 6 + [1] * 3 + [2] + [2] * 2)
    assert plots.corner_caption(1, assigned, labels) == "cluster 1: 10 points\n60 % class 0, 30 % class 1, 10 % other"
    assert plots.corner_caption(0, assigned, labels, class_names=["a", "b", "c"]) == "cluster 0: 2 points\n100 % c"
    assert plots.corner_caption(2, assigned, labels) == "cluster 2: 0 points"
    assert plots.corner_caption(0, assigned) == "cluster 0: 2 points"
    assert plots.corner_caption(1, assigned, labels, max_classes=3).endswith("10 % class 2")


def test_top_images(tmp_path):
    x = RNG.random((30, 64), dtype=np.float32)
    p = RNG.dirichlet([1, 1, 1], 30)
    out = plots.plot_top_images(x, p, tmp_path / "top.png", n_top=4, image_shape=(8, 8), labels=np.arange(30) % 3)
    assert _is_png(out)
    assert _is_png(plots.plot_top_images(x.reshape(30, 8, 8, 1), p, tmp_path / "img.png", n_top=3))
    with pytest.raises(ValueError, match="image_shape"):
        plots.plot_top_images(x, p, tmp_path / "x.png")
    with pytest.raises(ValueError, match="29 rows for 30 images"):
        plots.plot_top_images(x, p[:29], tmp_path / "x.png", image_shape=(8, 8))


def test_training_curves(tmp_path):
    steps = np.arange(0, 500, 100)
    curves = {"step": steps, "loss": np.exp(-steps / 200), "l1": steps * 0 + 1.0,
              "l2": np.cos(steps), "l3": np.exp(-steps / 100), "acc": 1 - np.exp(-steps / 200)}
    assert _is_png(plots.plot_training_curves(curves, tmp_path / "curves.png"))
    csv = tmp_path / "c.csv"
    csv.write_text("step,loss,l1,l2,l3,acc,nmi,train_loss\n0,3,1,0.5,2,0.1,0.1,\n100,2,0.8,0.4,1.5,0.5,0.4,2.1\n")
    assert _is_png(plots.plot_training_curves(csv, tmp_path / "from_csv.png"))
    with pytest.raises(ValueError, match=r"lack the columns \['l3'\]"):
        plots.plot_training_curves({k: v for k, v in curves.items() if k != "l3"}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="curves\\['acc'\\] has shape"):
        plots.plot_training_curves({**curves, "acc": np.zeros(3)}, tmp_path / "x.png")
    with pytest.raises(FileNotFoundError):
        plots.plot_training_curves(tmp_path / "missing.csv", tmp_path / "x.png")
    (tmp_path / "iris.csv").write_text("a,b,y\n1,2,x\n3,4,z\n")  # not a --log-curves file: no empty figure
    with pytest.raises(ValueError, match=r"iris.csv: not a training-curves CSV .*no step, loss, l1, l2, l3 columns"):
        plots.plot_training_curves(tmp_path / "iris.csv", tmp_path / "x.png")
    (tmp_path / "bin.csv").write_bytes(b"\x1f\x8b\x08\xff\xfe")
    with pytest.raises(ValueError, match=r"bin.csv: not a training-curves CSV \(not text"):
        plots.plot_training_curves(tmp_path / "bin.csv", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_kernel_matrix(tmp_path):
    hidden = np.concatenate([RNG.normal(size=(20, 5)), RNG.normal(5, size=(20, 5))]).astype(np.float32)
    ids = np.repeat([1, 0], 20)
    out = plots.plot_kernel_matrix(hidden, ids, tmp_path / "kernel.png", max_points=30)
    assert _is_png(out)
    k = plots.kernel_matrix(hidden)
    assert k.shape == (40, 40) and np.allclose(np.diag(k), 1.0)
    assert k[:20, :20].mean() > k[:20, 20:].mean()
    with pytest.raises(ValueError, match="hidden must be 2-D"):
        plots.plot_kernel_matrix(hidden[0], ids, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"clusters must have shape \(40,\)"):
        plots.plot_kernel_matrix(hidden, ids[:5], tmp_path / "x.png")


def test_guided_backprop_overlay(tmp_path):
    x = RNG.random((5, 16, 16, 1), dtype=np.float32)
    s = RNG.normal(size=x.shape).astype(np.float32)
    assert _is_png(plots.plot_guided_backprop(x, s, tmp_path / "gbp.png", clusters=[0, 1, 2, 0, 1]))
    flat = RNG.random((3, 64), dtype=np.float32)
    assert _is_png(plots.plot_guided_backprop(flat, flat - 0.5, tmp_path / "flat.png", image_shape=(8, 8)))
    with pytest.raises(ValueError, match="saliency has shape"):
        plots.plot_guided_backprop(x, s[:, :8], tmp_path / "x.png")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plots.plot_guided_backprop(np.zeros((2, 8, 8, 2)), np.zeros((2, 8, 8, 2)), tmp_path / "x.png")


def test_plot_command_writes_applicable_figures(tmp_path, capsys):
    import argparse

    import keras

    from ddc_tf.cli import main, plot
    from ddc_tf.models import DDC
    from ddc_tf.viz.figures import FIGURE_FILES

    keras.utils.set_random_seed(0)
    model = DDC(3, backbone="mlp", hidden_units=8)  # untrained is enough to draw
    model.build((None, 2))
    model.save(tmp_path / "model.keras")
    csv = tmp_path / "curves.csv"
    csv.write_text("step,loss,l1,l2,l3,acc,nmi,train_loss\n0,3,1,0.5,2,0.1,0.1,\n100,2,0.8,0.4,1.5,0.5,0.4,2.1\n")
    parser = argparse.ArgumentParser()
    plot.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plot", "--model", str(tmp_path), "--data", "circles", "--out", str(tmp_path / "figs"),
                              "--curves", str(csv), "--max-points", "300", "--kernel-points", "100"])
    assert args.func(args) == 0
    names = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert names == sorted(FIGURE_FILES[k] for k in ("fig3", "fig4", "fig9a", "fig10"))
    assert all(_is_png(tmp_path / "figs" / n) for n in names)
    assert main(["plot", "--model", str(tmp_path / "missing"), "--data", "circles", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ddc-tf plot: error:") and "missing: no such model file" in err
    # without --data: the data set its data.json names, when it can be found from here
    assert main(["plot", "--model", str(tmp_path), "--out", str(tmp_path / "f2")]) == 2
    assert "no data.json names the data it was trained on; give --data" in capsys.readouterr().err
    (tmp_path / "data.json").write_text(json.dumps({"name": "elsewhere/mine.npz"}))
    assert main(["plot", "--model", str(tmp_path), "--out", str(tmp_path / "f2")]) == 2
    assert "names 'elsewhere/mine.npz', which is not a data set name or a path found from here" in capsys.readouterr().err
    (tmp_path / "data.json").write_text(json.dumps({"name": "circles"}))
    assert main(["plot", "--model", str(tmp_path), "--out", str(tmp_path / "f2"), "--max-points", "300",
                 "--kernel-points", "100"]) == 0
    assert sorted(p.name for p in (tmp_path / "f2").glob("*.png")) == sorted(FIGURE_FILES[k] for k in ("fig3", "fig4", "fig10"))


def test_plot_names_a_savedmodel_as_such(capsys, tmp_path):
    """A SavedModel (served by `ddc-tf predict`) holds no Keras layers to draw: `plot` says so,
    for a version folder and for its model base path, not "no model.keras"."""
    from ddc_tf.cli import main

    saved = Path(__file__).resolve().parents[1] / "saved_models" / "ddc_digits"
    for model in (saved, saved / "1"):
        assert main(["plot", "--model", str(model), "--data", "digits", "--out", str(tmp_path / "figs")]) == 2
        err = capsys.readouterr().err
        assert f"{model}: a SavedModel" in err and "model.keras" in err, err
    assert not (tmp_path / "figs").exists()


def test_most_confident_takes_each_clusters_top_point_first():
    from ddc_tf.viz.figures import most_confident

    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.95, 0.05], [0.3, 0.7]])
    # cluster 0 ranks 3 (0.95), 0 (0.9), 1 (0.6); cluster 1 ranks 2 (0.8), 4 (0.7)
    assert most_confident(p, 4).tolist() == [3, 2, 0, 4]
    assert most_confident(p, 10).tolist() == [3, 2, 0, 4, 1]
    assert most_confident(p, 0).tolist() == []


def test_plot_draws_what_applies_to_a_model_of_sparse_vectors(tmp_path):
    """TF-IDF-like data: the sampled rows are densified; no image figures, the kernel matrix
    and (k = 3) the simplex."""
    import keras
    import scipy.sparse

    from ddc_tf.data import ArrayData
    from ddc_tf.models import DDC
    from ddc_tf.viz.figures import FIGURE_FILES, write_figures

    rng = np.random.default_rng(0)
    x = scipy.sparse.random(120, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    data = ArrayData(x=x, y=rng.integers(0, 3, 120), name="tfidf", kind="vector", raw_dtype="float32", scale=1.0)
    keras.utils.set_random_seed(0)
    model = DDC(3, backbone="mlp", hidden_units=8)
    model.build((None, 30))
    written = write_figures(model, data, tmp_path / "figs", max_points=100, kernel_points=50)
    assert sorted(written) == ["fig10", "fig4"]
    assert all(_is_png(tmp_path / "figs" / FIGURE_FILES[k]) for k in written)


def test_keras_errors_are_summarised_in_one_line():
    from ddc_tf.checks import error_summary

    error = ValueError("Exception encountered when calling Sequential.call().\n\n\x1b[1mInput 0 of layer "
                       "'dense1' is incompatible with the layer\x1b[0m\n\nArguments received by Sequential.call():\n"
                       "  \u2022 inputs=tf.Tensor(shape=(5, 3))")
    assert error_summary(error) == "Input 0 of layer 'dense1' is incompatible with the layer"
    assert error_summary(RuntimeError("x" * 500)).endswith("...") and len(error_summary(RuntimeError("x" * 500))) == 200
    assert error_summary(KeyError()) == "KeyError"


def test_curves_legend_names_each_methods_terms(tmp_path, monkeypatch):
    labels = []
    real_legend = plots.plt.Axes.legend

    def spy(ax, *args, **kwargs):
        labels.extend(line.get_label() for line in ax.get_lines())
        return real_legend(ax, *args, **kwargs)

    monkeypatch.setattr(plots.plt.Axes, "legend", spy)
    steps = np.arange(3)
    curves = {"step": steps, "loss": steps * 1.0, "l1": steps * 2.0, "l2": -steps * 1.0, "l3": steps ** 2.0}
    from ddc_tf.models import OTClustering

    plots.plot_training_curves(curves, tmp_path / "ot.png", term_labels=OTClustering.TERM_LABELS)
    assert any("transport cost" in label for label in labels) and not any("orthogonality" in label for label in labels)
    labels.clear()
    plots.plot_training_curves(curves, tmp_path / "ddc.png")
    assert any("orthogonality" in label for label in labels)
    from ddc_tf.models import DCAN, DDC

    for cls in (DDC, OTClustering, DCAN):
        assert set(cls.TERM_LABELS) == set(cls.TERM_DESCRIPTIONS) == {"l1", "l2", "l3"}


def test_figures_explain_every_cluster_name_classes_and_replace_earlier_ones(tmp_path, monkeypatch):
    """Fig. 11 explains max(10, k) images so that each of k > 10 clusters has one; Figs. 6–8 name the
    majority class; figures of an earlier call are removed; a bad curves file is refused first."""
    import keras

    from ddc_tf.data import ArrayData
    from ddc_tf.models import DDC
    from ddc_tf.viz import figures

    keras.utils.set_random_seed(0)
    model = DDC(12, backbone="mlp", hidden_units=8)
    model.build((None, 16))
    rng = np.random.default_rng(0)
    data = ArrayData(x=rng.random((60, 16), dtype=np.float32), y=np.arange(60) % 3, name="tiny", kind="vector",
                     raw_dtype="float32", scale=1.0, image_shape=(4, 4, 1), class_names=("cat", "dog", "owl"))
    seen = {}
    monkeypatch.setattr(figures, "most_confident", lambda p, n: seen.setdefault("n", n) and np.arange(min(n, 60)))
    real_top = plots.plot_top_images
    monkeypatch.setattr(plots, "plot_top_images", lambda *a, **k: seen.setdefault("names", k["class_names"])
                        and real_top(*a, **k))
    out = tmp_path / "figs"
    out.mkdir()
    (out / figures.FIGURE_FILES["fig3"]).write_bytes(b"old")
    (tmp_path / "short.csv").write_text("step,loss,l1,l2,l3\n0,1,1,1,1\n")
    with pytest.raises(ValueError, match="short.csv: curves need at least 2 rows"):
        figures.write_figures(model, data, out, curves=tmp_path / "short.csv", kernel_points=30)
    assert (out / figures.FIGURE_FILES["fig3"]).exists()  # nothing touched before the check
    written = figures.write_figures(model, data, out, kernel_points=30)
    assert seen["n"] == 12 and seen["names"] == ("cat", "dog", "owl")
    assert not (out / figures.FIGURE_FILES["fig3"]).exists()
    assert set(written) == {"fig6_8", "fig11", "fig10"}
