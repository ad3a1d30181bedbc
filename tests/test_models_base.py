"""``ClusteringModel``: what DDC, OTClustering and DCAN share, tested once for each.

- the standard Keras workflow on an *unbuilt* model: ModelCheckpoint to ``.keras``,
  BackupAndRestore, TensorBoard, CSVLogger and EarlyStopping in one ``fit``; the reloaded
  checkpoint predicts exactly as the trained model;
- the same metrics (``loss, l1, l2, l3``) and per-batch ``loss_terms`` for every method, so
  the protocol's selection, the training curves and the export metadata treat them alike;
- XLA: a ``jit_compile=True`` fit of each method matches the eager-graph fit;
- a new clustering loss is one small subclass (soft k-means here, written in this file).
"""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.callbacks import TrainingCurves
from ddc_tf.models import DCAN, DDC, METHODS, ClusteringModel, OTClustering
from ddc_tf.models.base import input_shape_of

CLASSES = (DDC, OTClustering, DCAN)
N, D, K = 96, 12, 3


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), N // K)
    centres = rng.normal(scale=4.0, size=(K, D))
    x = (centres[y] + rng.normal(size=(N, D))).astype("float32")
    return x, y


def _model(cls: type[ClusteringModel]) -> ClusteringModel:
    model = cls(n_clusters=K, backbone="mlp", hidden_units=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_methods_registry() -> None:
    assert METHODS == {"ddc": DDC, "ot": OTClustering, "dcan": DCAN}
    for name, cls in METHODS.items():
        assert issubclass(cls, ClusteringModel) and cls.METHOD == name
        assert set(cls.TERM_DESCRIPTIONS) == {"l1", "l2", "l3"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_standard_callbacks_on_an_unbuilt_model(cls, tmp_path) -> None:
    keras.utils.set_random_seed(0)
    x, _ = _blobs()
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(N, seed=0).batch(32, drop_remainder=True)
    model = _model(cls)
    assert not model.built
    checkpoint = tmp_path / "best.keras"
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="loss", save_best_only=False),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs")),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.EarlyStopping(monitor="loss", patience=5),
    ]
    history = model.fit(dataset, epochs=2, verbose=0, callbacks=callbacks)
    assert model.built and len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history[name]).all() for name in ("loss", "l1", "l2", "l3"))
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"loss", "l1", "l2", "l3"} <= set(rows[0])
    assert any((tmp_path / "logs").rglob("*.tfevents*"))

    reloaded = keras.models.load_model(checkpoint)
    assert type(reloaded) is cls
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # ... and it trains on from where it was.
    reloaded.fit(dataset, epochs=1, verbose=0)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_backup_and_restore_resumes_an_unbuilt_model(cls, tmp_path) -> None:
    """Interrupted at epoch 2, a fresh unbuilt model with the same callback resumes there."""
    x, _ = _blobs()
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(32, drop_remainder=True)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    keras.utils.set_random_seed(0)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="interrupted"):
        _model(cls).fit(dataset, epochs=4, verbose=0, callbacks=[backup, Interrupt()])
    resumed = _model(cls)
    history = resumed.fit(dataset, epochs=4, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert history.epoch == [2, 3]  # epochs 0 and 1 were restored, not re-run
    assert int(resumed.optimizer.iterations.numpy()) == 4 * (N // 32)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_loss_terms_and_evaluate_agree(cls) -> None:
    """``evaluate`` (the protocol's selection score) is the mean of ``loss_terms`` over batches."""
    keras.utils.set_random_seed(1)
    x, _ = _blobs(1)
    model = _model(cls)
    model.fit(x, batch_size=32, epochs=1, verbose=0)
    per_batch = [model.loss_terms(tf.constant(x[i : i + 32]), training=False) for i in range(0, N, 32)]
    result = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], np.mean([float(t["total"]) for t in per_batch]), rtol=1e-5)
    for name in ("l1", "l2"):
        np.testing.assert_allclose(result[name], np.mean([float(t[name]) for t in per_batch]), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_training_curves_log_every_term(cls) -> None:
    keras.utils.set_random_seed(0)
    x, y = _blobs()
    curves = TrainingCurves(x, y, every=2, batch_size=32)
    _model(cls).fit(x, batch_size=32, epochs=1, verbose=0, callbacks=[curves])
    assert curves.rows
    for row in curves.rows:
        for name in ("loss", "l1", "l2", "l3", "acc", "nmi"):
            assert row[name] is not None and np.isfinite(row[name]), (name, row)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_describe_names_the_method(cls) -> None:
    model = _model(cls)
    model.build((None, D))
    description = model.describe()
    assert description["method"] == cls.METHOD
    assert description["backbone"] == "mlp" and description["n_clusters"] == K
    assert description["parameters"] == model.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_xla_fit_matches_graph_fit(cls) -> None:
    x, _ = _blobs(2)
    results = []
    for jit in (False, True):
        keras.utils.set_random_seed(3)
        model = cls(n_clusters=K, backbone="mlp", hidden_units=16, seed=3) if cls is not DDC else cls(
            n_clusters=K, backbone="mlp", hidden_units=16
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        history = model.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0)
        results.append(history.history["loss"])
    np.testing.assert_allclose(results[1], results[0], rtol=2e-3, atol=1e-4)


def test_input_shape_of() -> None:
    x = np.zeros((10, 4, 5, 1), np.float32)
    assert input_shape_of(x) == (None, 4, 5, 1)
    assert input_shape_of(tf.data.Dataset.from_tensor_slices((x, np.zeros(10))).batch(2)) == (None, 4, 5, 1)
    ragged = tf.data.Dataset.from_generator(lambda: iter([x[:2]]), output_signature=tf.TensorSpec((None, None, 5, 1)))
    assert input_shape_of(ragged) is None
    assert input_shape_of([1, 2, 3]) is None


def test_base_validates_what_every_method_shares() -> None:
    for cls in CLASSES:
        with pytest.raises(ValueError, match="n_clusters"):
            cls(n_clusters=1, backbone="mlp")
        with pytest.raises(ValueError, match="input_dropout"):
            cls(n_clusters=2, backbone="mlp", input_dropout=1.0)
        with pytest.raises(ValueError, match="hidden_units"):
            cls(n_clusters=2, backbone="mlp", hidden_units=0)
        with pytest.raises(ValueError, match="own unsupervised loss"):
            cls(n_clusters=2, backbone="mlp").compile(optimizer="adam", loss="mse")


@keras.saving.register_keras_serializable(package="ddc_tf_tests")
class SoftKMeans(ClusteringModel):
    """A fourth clustering loss in a few lines: soft k-means on the hidden representation."""

    METHOD = "soft_kmeans"
    TERM_DESCRIPTIONS = {"l1": "distortion", "l2": "unused", "l3": "unused"}

    def build_head(self, input_shape):
        self.centres = self.add_weight(shape=(self.n_clusters, self.hidden_units), name="centres")

    def hidden_and_logits(self, x, training=False):
        hidden = tf.cast(self.trunk(x, training=training), tf.float32)
        distances = tf.reduce_sum(tf.square(hidden[:, None, :] - self.centres[None]), axis=2)
        return hidden, -distances

    def loss_terms(self, x, training=False):
        self._built_for(x)
        hidden, logits = self.hidden_and_logits(x, training=training)
        distortion = tf.reduce_mean(tf.reduce_sum(tf.nn.softmax(logits) * -logits, axis=1))
        zero = tf.constant(0.0)
        return {"total": distortion, "l1": distortion, "l2": zero, "l3": zero}


def test_a_new_loss_is_one_small_subclass(tmp_path) -> None:
    keras.utils.set_random_seed(0)
    x, _ = _blobs()
    model = SoftKMeans(n_clusters=K, backbone="mlp", hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=32, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (N, K)
    assert model.embed(x).shape == (N, 8)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_fit_traces_its_train_step_once(cls, monkeypatch) -> None:
    """``fit`` makes the optimizer's slots before the train function is first traced: a
    ``tf.function`` that creates variables is traced twice (it was a second ~1 s per run)."""
    traces = []
    step = cls.train_step

    def counted_step(self, data):  # runs once per trace of the train function, not per batch
        traces.append(1)
        return step(self, data)

    monkeypatch.setattr(cls, "train_step", counted_step)
    x, _ = _blobs()
    model = _model(cls)
    model.fit(x, batch_size=32, epochs=2, verbose=0)
    assert len(traces) == 1
    assert model.optimizer.built and int(model.optimizer.iterations) == 2 * (N // 32)
