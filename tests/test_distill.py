"""DDC-DISTILLED: the chosen run fine-tuned on DDC-ENSEMBLE's cluster ids (experiments.distill)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import ddc_tf.experiments.resume
from ddc_tf import evaluation
from ddc_tf.data import ArrayData
from ddc_tf.experiments.distill import distill
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.tables import format_results_table
from ddc_tf.experiments.training import TrainConfig, predict_assignments, train_run
from ddc_tf.run_files import DISTILLED_FILE, ENSEMBLE_FILE, MODEL_FILE, run_dir


def blobs(n: int = 150) -> ArrayData:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(scale=3.0, size=(3, 4))[y] + rng.normal(scale=0.7, size=(n, 4))
    return ArrayData(x=x.astype(np.float32), y=y.astype(np.int64), name="blobs", kind="vector",
                     raw_dtype="float32", scale=1.0)


def config(**kwargs) -> TrainConfig:
    return TrainConfig(**{"n_clusters": 3, "backbone": "mlp", "steps": 5, "batch_size": 50,
                          "learning_rate": 1e-2, "hidden_units": 16, **kwargs})


def test_distill_makes_the_model_follow_the_targets_and_keeps_its_own_cluster_ids():
    data = blobs()
    model, _ = train_run(data, config(steps=3), seed=1, verbose=0)
    before = predict_assignments(model, data).argmax(axis=1)
    # targets: another partition (points split by their first coordinate), under shuffled ids
    order = np.argsort(np.argsort(data.x[:, 0]))
    targets = (order * 3 // data.n + 1) % 3
    agreement_before = np.mean(evaluation.align_labels(before, targets) == before)
    distill(model, data, targets, steps=150, batch_size=50, seed=0)
    after = predict_assignments(model, data).argmax(axis=1)
    renamed = evaluation.align_labels(before, targets)  # the targets under the model's former ids
    assert np.mean(after == renamed) > 0.9 > agreement_before + 0.2


def test_distill_runs_its_steps_in_calls_of_many_with_the_weights_of_one_per_call(monkeypatch):
    """The compiled loop runs ``DISTILL_STEPS_PER_CALL`` mini-batches a call (a shorter last
    call); the network it ends with is the one-step-per-call network, bit for bit."""
    from ddc_tf.experiments import distill as module

    data = blobs()
    targets = (np.arange(data.n) * 7) % 3
    weights = {}
    for per_call in (1, 4):
        monkeypatch.setattr(module, "DISTILL_STEPS_PER_CALL", per_call)
        keras.utils.set_random_seed(5)
        model, _ = train_run(data, config(steps=2), seed=5, verbose=0)
        distill(model, data, targets, steps=10, batch_size=50, seed=3)  # 4 + 4 + 2
        weights[per_call] = model.get_weights()
    for a, b in zip(weights[1], weights[4]):
        np.testing.assert_array_equal(a, b)


def test_distill_refuses_bad_arguments():
    data = blobs()
    model, _ = train_run(data, config(steps=1), seed=0, verbose=0)
    good = np.arange(data.n) % 3
    with pytest.raises(ValueError, match="targets has 10 cluster ids, the data 150 points"):
        distill(model, data, good[:10])
    with pytest.raises(ValueError, match="targets has 5 clusters, the model 3"):
        distill(model, data, np.arange(data.n) % 5)
    with pytest.raises(ValueError, match="steps"):
        distill(model, data, good, steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        distill(model, data, good, learning_rate=-1.0)


def test_protocol_distils_the_chosen_run_and_saves_it_as_the_model(tmp_path):
    data, cfg = blobs(), config()
    results, model = run_protocol(data, cfg, runs=3, seed=2, out_dir=tmp_path, verbose=0, distill_steps=20)
    distilled = results["distilled"]
    assert distilled["steps"] == 20 and distilled["seed"] == results["best"]["seed"]
    assert 0.0 <= distilled["acc"] <= 1.0 and 0.0 <= distilled["nmi"] <= 1.0 and 0.0 <= distilled["agreement"] <= 1.0
    saved = keras.models.load_model(tmp_path / MODEL_FILE)
    ids = np.load(tmp_path / DISTILLED_FILE)
    np.testing.assert_array_equal(predict_assignments(saved, data).argmax(1), ids)
    np.testing.assert_array_equal(predict_assignments(model, data).argmax(1), ids)
    assert distilled["acc"] == pytest.approx(evaluation.accuracy(data.y, ids))
    ensemble = np.load(tmp_path / ENSEMBLE_FILE)
    assert distilled["agreement"] == pytest.approx(np.mean(evaluation.align_labels(ids, ensemble) == ids))
    # the chosen run itself is kept as trained
    chosen = keras.models.load_model(run_dir(tmp_path, results["best"]["seed"]) / MODEL_FILE)
    np.testing.assert_array_equal(predict_assignments(chosen, data).argmax(1), np.load(tmp_path / "best_clusters.npy"))
    assert "DDC-DISTILLED" in format_results_table(results)
    # the same command again: runs reused, the same distillation from the chosen run
    again, _ = run_protocol(data, cfg, runs=3, seed=2, out_dir=tmp_path, verbose=0, distill_steps=20)
    assert again["distilled"]["acc"] == pytest.approx(distilled["acc"])
    np.testing.assert_array_equal(np.load(tmp_path / DISTILLED_FILE), ids)


def test_protocol_without_a_vote_or_with_zero_steps_does_not_distil(tmp_path):
    data, cfg = blobs(), config(steps=2)
    assert run_protocol(data, cfg, runs=2, seed=0, out_dir=tmp_path, verbose=0, distill_steps=10)[0]["distilled"] is None
    # the folder's two runs reused: one more trains
    assert run_protocol(data, cfg, runs=3, seed=0, out_dir=tmp_path, verbose=0, distill_steps=0)[0]["distilled"] is None
    with pytest.raises(ValueError, match="distill_steps"):
        run_protocol(data, cfg, runs=3, verbose=0, distill_steps=-1)


def test_distill_draws_the_same_dropout_masks_whatever_state_the_model_comes_in():
    """A model in memory after training and the same model read back from disk differ only in
    their dropout generator's state; the distilled network must not."""
    data = blobs()
    model, _ = train_run(data, config(input_dropout=0.3), seed=0)
    weights = model.get_weights()
    targets = predict_assignments(model, data).argmax(axis=1)
    first = distill(model, data, targets, steps=5, seed=7).get_weights()
    model.set_weights(weights)
    for generator in ddc_tf.experiments.resume.seed_generators(model):
        generator.state.assign(generator.state + 12345)  # as if trained further
    second = distill(model, data, targets, steps=5, seed=7).get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
