"""TrainingCurves: loss, terms and ACC/NMI on a fixed subset during fit (CSV, TensorBoard)."""

from __future__ import annotations

import csv
import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.callbacks import CURVE_COLUMNS, TrainingCurves, read_curves
from ddc_tf.viz.plots import plot_training_curves
from ddc_tf.models import DDC


def blobs(n: int = 80):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(scale=4.0, size=(2, 3))[y] + rng.normal(scale=0.5, size=(n, 3))
    return x.astype(np.float32), y.astype(np.int64)


def fit(callback, steps: int = 5, seed: int = 0) -> DDC:
    keras.utils.set_random_seed(seed)
    x, _ = blobs()
    model = DDC(n_clusters=2, backbone="mlp", hidden_units=8)
    model.build((None, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(80, seed=seed).batch(20, drop_remainder=True).repeat()
    model.fit(dataset, epochs=2, steps_per_epoch=steps // 2, callbacks=[callback], verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    folder = tmp_path_factory.mktemp("curves")
    x, y = blobs()
    callback = TrainingCurves(x, y, every=2, subset=60, batch_size=20, csv_path=folder / "c.csv",
                              log_dir=folder / "tb")
    model = fit(callback, steps=6)
    return folder, callback, model


def test_csv_rows_every_n_steps_and_at_the_start_and_end(curves):
    folder, callback, model = curves
    with (folder / "c.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CURVE_COLUMNS)
    assert [int(r["step"]) for r in rows] == [0, 2, 4, 6]
    assert rows[0]["train_loss"] == "" and float(rows[-1]["train_loss"]) > 0
    for r in rows:
        assert 0 <= float(r["acc"]) <= 1 and 0 <= float(r["nmi"]) <= 1
        terms = [float(r[k]) for k in ("l1", "l2", "l3")]
        assert float(r["loss"]) == pytest.approx(sum(terms), rel=1e-5)
    assert len(callback.rows) == 4


def test_the_logged_values_are_the_models_on_the_fixed_subset(curves):
    _, callback, model = curves
    again = callback.evaluate()
    assert again["loss"] == pytest.approx(callback.rows[-1]["loss"], rel=1e-5)
    expected = np.mean([float(model.loss_terms(callback.x[i:i + 20])["total"]) for i in range(0, 60, 20)])
    assert again["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed")
def test_tensorboard_scalars(curves):
    folder, _, _ = curves
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tb"))
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"curves/loss", "curves/l1", "curves/l2", "curves/l3", "curves/acc", "curves/nmi"} <= tags
    assert [e.step for e in events.Tensors("curves/loss")] == [0, 2, 4, 6]


def test_without_labels_no_acc_and_plot(tmp_path):
    x, _ = blobs()
    callback = TrainingCurves(x, None, every=3, subset=None, batch_size=20, csv_path=tmp_path / "c.csv")
    fit(callback, steps=4)
    curves = read_curves(tmp_path / "c.csv")
    assert curves["step"].tolist() == [0, 3, 4]  # every 3 steps, and the final state
    assert np.isnan(curves["acc"]).all() and np.isfinite(curves["loss"]).all()
    plot_training_curves(tmp_path / "c.csv", tmp_path / "fig9a.png")
    assert (tmp_path / "fig9a.png").stat().st_size > 0


def test_resume_drops_rows_after_the_restart_step(tmp_path):
    x, y = blobs()
    path = tmp_path / "c.csv"
    path.write_text("step,loss,l1,l2,l3,acc,nmi,train_loss\n0,1,0.3,0.3,0.4,0.5,0.1,\n8,1,0.3,0.3,0.4,0.5,0.1,0.9\n")
    callback = TrainingCurves(x, y, every=100, batch_size=20, csv_path=path)
    callback.set_model(DDC(n_clusters=2, backbone="mlp", hidden_units=4))
    callback.model.build((None, 3))
    callback.model.compile()
    callback.model.optimizer.build(callback.model.trainable_variables)
    callback.model.optimizer.iterations.assign(5)  # as if BackupAndRestore resumed at step 5
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    steps = read_curves(path)["step"].tolist()
    assert steps == [0, 5]


def test_bad_arguments():
    x, y = blobs()
    with pytest.raises(ValueError, match="every"):
        TrainingCurves(x, y, every=0)
    with pytest.raises(ValueError, match="labels"):
        TrainingCurves(x, y[:5])
    for subset in (0, -3, 2.5):
        with pytest.raises(ValueError, match="subset must be a whole number ≥ 1"):
            TrainingCurves(x, y, subset=subset)


def test_fit_says_when_the_curve_subset_is_larger_than_the_data(tmp_path):
    """--curve-subset above the data's size evaluates every point, and `fit` says so."""
    from ddc_tf.cli import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", x=rng.normal(size=(150, 3)).astype(np.float32), y=np.arange(150) % 2)
    out = tmp_path / "fit"
    with pytest.warns(UserWarning, match="--curve-subset 200 is more than the 150 points"):
        assert main(["fit", "--data", str(tmp_path / "small.npz"), "--clusters", "2", "--steps", "2", "--runs", "1",
                     "--log-curves", "2", "--curve-subset", "200", "--out", str(out), "--quiet"]) == 0
    assert (out / "curves" / "seed_0.csv").is_file()


def test_fit_log_curves_writes_one_csv_per_run(tmp_path, capsys):
    from ddc_tf.cli import main

    out = tmp_path / "fit"
    code = main(["fit", "--data", "digits", "--backbone", "mlp", "--steps", "4", "--runs", "1",
                 "--log-curves", "2", "--curve-subset", "300", "--out", str(out), "--quiet"])
    assert code == 0
    curves = read_curves(out / "curves" / "seed_0.csv")
    assert curves["step"].tolist() == [0, 2, 4]
    assert np.isfinite(curves["acc"]).all() and np.isfinite(curves["l3"]).all()
    capsys.readouterr()


def test_a_callback_reused_on_another_model_evaluates_that_model(tmp_path):
    """The compiled evaluation is tied to a model: a second fit with the same callback used to
    log the first model's values, frozen."""
    callback = TrainingCurves(*blobs(), every=2, subset=None, batch_size=20)
    first = fit(callback, steps=4, seed=1)
    logged_first = len(callback.rows)
    second = fit(callback, steps=4, seed=7)
    x = callback.x  # the callback's seeded order
    expected = float(np.mean([float(second.loss_terms(tf.constant(x[i:i + 20]))["total"])
                              for i in range(0, 80, 20)]))
    assert callback.rows[-1]["loss"] == pytest.approx(expected, rel=1e-5)
    assert callback.rows[logged_first]["step"] == 0  # the second model's first row is logged too
    assert first is not second


def test_a_short_last_batch_is_not_averaged_as_a_whole_one():
    x, y = blobs(81)
    callback = TrainingCurves(x, y, subset=None, batch_size=20)
    assert callback.x.shape[0] == 80
    assert TrainingCurves(x[:30], y[:30], subset=None, batch_size=20).x.shape[0] == 20
    assert TrainingCurves(x[:15], y[:15], subset=None, batch_size=20).x.shape[0] == 15  # one batch: all of it


def test_a_fit_that_runs_no_epoch_still_writes_a_curves_file_with_its_header(tmp_path):
    """A run resumed after its last chunk runs no epoch; the final row needs the file set up."""
    path = tmp_path / "curves.csv"
    callback = TrainingCurves(*blobs(), subset=None, batch_size=20, csv_path=path)
    model = fit(TrainingCurves(*blobs(), subset=None, batch_size=20), steps=4)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_end({"loss": 1.0})
    assert read_curves(path)["step"].tolist() == [4.0]
