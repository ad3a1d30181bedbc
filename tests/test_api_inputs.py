"""The Python API with inputs a user writes in their own style or gets wrong: each a result or an
error that names the argument (the cases of a new-user audit of the Python API)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse

import ddc_tf
from ddc_tf import DCAN, DDC, OTClustering, TrainConfig, run_protocol, train_run
from ddc_tf.data import ArrayData, to_dataset
from ddc_tf.data.neighbors import nearest_neighbors
from ddc_tf.losses import ddc_loss
from ddc_tf.sklearn import DDCClustering


def blobs(n: int = 60, d: int = 6) -> ArrayData:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = (rng.normal(scale=3.0, size=(3, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    return ArrayData(x=x, y=y, name="blobs", kind="vector", raw_dtype="float32", scale=1.0)


@pytest.mark.parametrize("cls", [DDC, OTClustering, DCAN])
def test_numpy_integers_are_cluster_counts_and_floats_are_not(cls):
    k = np.array([0, 1, 2]).max() + 1  # np.int64(3), as y.max() + 1 gives it
    assert cls(n_clusters=k, backbone="mlp").n_clusters == 3
    with pytest.raises(ValueError, match=r"n_clusters must be an integer ≥ 2, got 3\.0"):
        cls(n_clusters=3.0, backbone="mlp")


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: DDC(3, backbone="mlp", rel_sigma="0.2"), "rel_sigma must be a finite number > 0, got '0.2'"),
        (lambda: DDC(3, backbone="mlp", loss_weights="abc"), "loss_weights must be three finite"),
        (lambda: DDC(3, backbone="mlp", loss_weights=(1, 1)), "loss_weights must be three finite"),
        (lambda: TrainConfig(n_clusters=3, rel_sigma="0.2"), "rel_sigma must be a finite number > 0"),
        (lambda: TrainConfig(n_clusters=3, learning_rate="x"), "learning_rate must be a finite number > 0"),
        (lambda: TrainConfig(n_clusters=3, backbone="cnn"), r"backbone='cnn'; expected 'auto' or one of"),
        (lambda: ddc_loss(np.ones((4, 2), np.float32), np.full((4, 2), 0.5, np.float32), rel_sigma="0.1"),
         "rel_sigma must be a finite number > 0"),
        (lambda: run_protocol(blobs(), TrainConfig(n_clusters=3, steps=1), runs=2.5, verbose=0),
         "runs must be a positive integer, got 2.5"),
    ],
)
def test_a_wrong_type_names_its_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "call",
    [
        lambda x: train_run(x, TrainConfig(n_clusters=3, steps=1), 0, verbose=0),
        lambda x: run_protocol(x, TrainConfig(n_clusters=3, steps=1), verbose=0),
        lambda x: to_dataset(x),
        lambda x: nearest_neighbors(x, 5),
    ],
)
def test_a_plain_array_where_arraydata_is_needed_says_how_to_make_one(call):
    with pytest.raises(TypeError, match=r"data must be a ddc_tf.data.ArrayData .*got numpy.ndarray"):
        call(blobs().x)


def test_nan_inputs_are_refused_before_training():
    x = blobs().x.copy()
    x[3, 2] = np.nan
    model = DDC(3, backbone="mlp")
    model.compile()
    with pytest.raises(ValueError, match=r"x: 1 non-finite value \(1 NaN, 0 Inf\); first at index \(3, 2\)"):
        model.fit(x, batch_size=20, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="x: 1 non-finite"):
        model.fit(scipy.sparse.csr_matrix(x), batch_size=20, epochs=1, verbose=0)
    data = ArrayData(x=x, y=None, name="mine", kind="vector", raw_dtype="float32", scale=1.0)
    with pytest.raises(ValueError, match="mine: 1 non-finite value "):
        train_run(data, TrainConfig(n_clusters=3, steps=1, batch_size=20), 0, verbose=0)
    with pytest.raises(ValueError, match="x: 2 points, fewer than the 3 clusters"):
        model.fit(blobs().x[:2], verbose=0)


@pytest.mark.parametrize("cls", [DDC, OTClustering, DCAN])
def test_embed_and_loss_terms_take_a_sparse_batch_as_fit_and_predict_do(cls):
    x = scipy.sparse.random(30, 12, density=0.3, format="csr", dtype=np.float32, random_state=0)
    model = cls(n_clusters=3, backbone="mlp", hidden_units=8)
    dense = model.embed(x.toarray())
    np.testing.assert_allclose(model.embed(x), dense, rtol=1e-6)
    assert float(model.loss_terms(x)["total"]) == pytest.approx(float(model.loss_terms(x.toarray())["total"]), rel=1e-6)


def test_pretrain_steps_zero_is_from_scratch_as_on_the_command_line():
    assert TrainConfig(n_clusters=3, method="ot", pretrain_steps=0).pretrain_steps is None
    x = blobs().x
    estimator = DDCClustering(3, runs=1, method="ot", steps=2, batch_size=20, pretrain_steps=0, neighbors=0).fit(x)
    assert estimator.labels_.shape == (60,)
    with pytest.raises(ValueError, match="pretrain_steps applies to methods 'ot' and 'dcan'"):
        DDCClustering(3, steps=2, pretrain_steps=5).fit(x)


def test_the_estimator_takes_images_as_h_w_and_names_what_is_wrong():
    x = np.random.default_rng(0).random((40, 64))
    estimator = DDCClustering(3, runs=1, steps=2, batch_size=20, image_shape=(8, 8)).fit(x)  # one channel
    assert estimator.model_.backbone_name == "mlp" and estimator.labels_.shape == (40,)
    assert DDCClustering(3, runs=1, steps=2, batch_size=20, image_shape=np.array([8, 8, 1])).fit(x).labels_.shape == (40,)
    with pytest.raises(ValueError, match=r"image_shape=\(8, 9\) holds 72 values per image; the rows of X hold 64"):
        DDCClustering(3, steps=2, image_shape=(8, 9)).fit(x)
    with pytest.raises(ValueError, match=r"image_shape=\(8,\): expected \(h, w\) or \(h, w, channels\)"):
        DDCClustering(3, steps=2, image_shape=(8,)).fit(x)


def test_the_estimator_checks_its_settings_and_takes_a_random_state_object():
    x = np.random.default_rng(0).random((40, 5))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 'a'"):
        DDCClustering(3, steps=2, batch_size="a").fit(x)
    with pytest.raises(ValueError, match="selector='best'; expected one of"):
        DDCClustering(3, steps=2, selector="best").fit(x)  # also with runs=1, where it picks nothing
    with pytest.raises(ValueError, match="random_state must be an integer ≥ 0"):
        DDCClustering(3, steps=2, random_state=-1).fit(x)
    first = DDCClustering(3, runs=1, steps=2, batch_size=20, random_state=np.random.RandomState(7)).fit(x)
    again = DDCClustering(3, runs=1, steps=2, batch_size=20, random_state=np.random.RandomState(7)).fit(x)
    np.testing.assert_array_equal(first.labels_, again.labels_)  # the seed drawn from the state
    names = first.get_feature_names_out()
    assert len(names) == first.transform(x).shape[1] and names[0] == "ddcclustering0"


def test_sub_packages_the_readme_names_load_on_first_use():
    code = ("import ddc_tf; print(ddc_tf.viz.GuidedBackprop.__name__, ddc_tf.sklearn.DDCClustering.__name__, "
            "ddc_tf.serving.__name__, ddc_tf.callbacks.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["GuidedBackprop", "DDCClustering", "ddc_tf.serving", "ddc_tf.callbacks"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ddc_tf.nothing  # noqa: B018


def test_demo_steps_also_bound_the_distillation_and_the_refined_start(monkeypatch, tmp_path):
    from ddc_tf.experiments import demo

    seen = []

    def fake_protocol(data, config, **kwargs):
        seen.append((config.steps, kwargs["distill_steps"], kwargs["refine_steps"]))
        raise KeyboardInterrupt  # stop after recording the first case's settings

    monkeypatch.setattr("ddc_tf.experiments.protocol.run_protocol", fake_protocol)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path, steps=30)
    assert seen == [(30, 30, 30)]
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path)  # the demo's own budget keeps the CLI's 300 and 300
    assert seen == [(1500, 300, 300)]



def test_keras_arguments_ddc_would_ignore_are_refused():
    model = DDC(3, backbone="mlp")
    with pytest.raises(ValueError, match="logs its loss terms as its metrics; metrics= would never be computed"):
        model.compile(metrics=["accuracy"])
    model.compile()
    x = blobs().x
    with pytest.raises(ValueError, match="no per-point weights; sample_weight= would be ignored"):
        model.fit(x, sample_weight=np.ones(len(x)), verbose=0)
    with pytest.raises(ValueError, match="class_weight= would be ignored"):
        model.fit(x, class_weight={0: 1.0}, verbose=0)


def test_a_shape_that_is_not_the_models_is_named_by_export_and_guided_backprop(tmp_path):
    from ddc_tf.serving.export import InputSpec, export_model
    from ddc_tf.viz import GuidedBackprop

    model = DDC(3, backbone="mlp", hidden_units=8, name="mine")
    model.build((None, 6))
    with pytest.raises(ValueError, match=r"the input spec's shape \(4,\) is not the model's input shape \(6,\)"):
        export_model(model, "t", spec=InputSpec((4,), "float32", 1.0), base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"mine takes inputs of shape \(6,\), got \(4,\)"):
        GuidedBackprop(model).saliency(blobs().x[:5, :4])


def test_predict_on_no_points_is_an_empty_array():
    model = DDC(3, backbone="mlp", hidden_units=8)
    model.build((None, 6))
    empty = model.predict(np.zeros((0, 6), np.float32), verbose=0)
    assert empty.shape == (0, 3) and empty.dtype == np.float32
    assert model.predict(scipy.sparse.csr_matrix((0, 6), dtype=np.float32), verbose=0).shape == (0, 3)
    assert model.predict(blobs().x[:4], verbose=0).shape == (4, 3)


def test_arrays_of_another_width_than_the_built_model_are_refused_by_name():
    """Keras would fail inside the graph, naming a layer (``relu1_1/Relu``)."""
    model = DDC(3, backbone="mlp", hidden_units=8)
    model.build((None, 6))
    model.compile(optimizer="adam")
    wide = blobs(d=10).x
    with pytest.raises(ValueError, match=r"x: examples of shape \(10,\) \(x has shape \(60, 10\)\); the model was "
                                         r"built for \(n, 6\)"):
        model.predict(wide, verbose=0)
    with pytest.raises(ValueError, match=r"built for \(n, 6\)"):
        model.predict(scipy.sparse.csr_matrix(wide), verbose=0)
    with pytest.raises(ValueError, match=r"built for \(n, 6\)"):
        model.fit(wide, epochs=1, verbose=0)
    # a custom backbone may take other shapes (here: global pooling over any image size)
    import keras

    pooled = DDC(2, backbone=keras.layers.GlobalAveragePooling2D(), hidden_units=4)
    pooled.build((None, 8, 8, 3))
    assert pooled.predict(np.zeros((5, 16, 16, 3), np.float32), verbose=0).shape == (5, 2)


def test_the_keras_api_refuses_what_it_would_get_wrong(tmp_path):
    """Cases of a second new-user audit: each an error that names the problem, where Keras
    trained on nothing, answered from deep in the graph, or wrote a file that does not load."""
    import tensorflow as tf

    data = blobs()
    model = DDC(3, backbone="mlp", hidden_units=8)
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"batch_size=2 is less than the 3 clusters"):
        model.fit(data.x, batch_size=2, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size=32 \(Keras' default\) is less than the 50 clusters"):
        DDC(50, backbone="mlp").fit(blobs(n=100).x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"elements have shape \(6,\): single examples.*dataset.batch\(batch_size\)"):
        model.fit(tf.data.Dataset.from_tensor_slices(data.x), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"a batch dict holds \['x'\]; give the inputs as the batch itself"):
        model.fit(tf.data.Dataset.from_tensor_slices({"x": data.x}).batch(30), epochs=1, verbose=0)
    model.fit(data.x, batch_size=30, epochs=1, verbose=0)
    nan = data.x[:3].copy()
    nan[0, 3] = np.nan
    with pytest.raises(ValueError, match=r"x: 1 non-finite value \(1 NaN, 0 Inf\); first at index \(0, 3\)"):
        model.predict(nan, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.embed(nan)
    with pytest.raises(ValueError, match=r"x: examples of shape \(9,\) .* built for \(n, 6\)"):
        model.embed(np.zeros((5, 9), np.float32))
    with pytest.raises(ValueError, match=r"one example of shape \(6,\); .* add the batch axis \(e.g. x\[None\]\)"):
        model.predict(data.x[0], verbose=0)
    with pytest.raises(ValueError, match=r"m.h5: the legacy HDF5 format cannot store a DDC.*save to a .keras file"):
        model.save(tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()
    with pytest.raises(ValueError, match=r"seed must be an integer ≥ 0, got '0'"):
        train_run(data, TrainConfig(n_clusters=3, steps=1, batch_size=30), "0", verbose=0)
