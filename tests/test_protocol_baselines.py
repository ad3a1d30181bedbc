"""Baselines in the protocol's harness: k-means++ on the raw inputs and on the DDC hidden
representation of the lowest-loss run; the loss-ranking summary; cached reruns."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import ddc_tf.experiments.protocol
from ddc_tf import baselines, evaluation
from ddc_tf.data import ArrayData
from ddc_tf.experiments.protocol import embed_data, kmeans_on_hidden, run_protocol
from ddc_tf.experiments.training import TrainConfig


def blobs(n: int = 90, labels: bool = True) -> ArrayData:
    rng = np.random.default_rng(1)
    y = np.arange(n) % 3
    x = rng.normal(scale=4.0, size=(3, 5))[y] + rng.normal(scale=0.5, size=(n, 5))
    return ArrayData(x=x.astype(np.float32), y=y.astype(np.int64) if labels else None,
                     name="blobs", kind="vector", raw_dtype="float32", scale=1.0)


def config() -> TrainConfig:
    return TrainConfig(n_clusters=3, backbone="mlp", steps=3, batch_size=30, learning_rate=1e-2,
                       hidden_units=8)


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    out = tmp_path_factory.mktemp("baselines") / "out"
    data = blobs()
    results, model = run_protocol(data, config(), runs=3, seed=2, out_dir=out, verbose=0,
                                  baselines=("kmeans", "kmeans_hidden"))
    return data, out, results, model


def test_baselines_are_reported_and_written(protocol):
    data, out, results, _ = protocol
    on_disk = json.loads((out / "results.json").read_text())
    for name in ("kmeans", "kmeans_hidden"):
        for record in (results[name], on_disk[name]):
            assert 0.0 <= record["acc"] <= 1.0 and 0.0 <= record["nmi"] <= 1.0
            assert record["n_init"] == baselines.DEFAULT_N_INIT
    # the hidden-representation baseline uses the lowest-loss run, chosen without labels
    assert results["kmeans_hidden"]["ddc_seed"] == results["best"]["seed"]
    # the raw baseline is exactly kmeans_baseline on the flattened inputs
    expected = baselines.kmeans_baseline(data.x, data.y, 3, seed=2)
    assert results["kmeans"]["acc"] == pytest.approx(expected["acc"])


def test_kmeans_on_hidden_clusters_the_embedding(protocol):
    data, _, results, model = protocol
    hidden = embed_data(model, data, batch_size=32)  # a partial last batch on purpose
    assert hidden.shape == (data.n, model.hidden_units) and hidden.dtype == np.float32
    np.testing.assert_allclose(hidden[:5], model.embed(data.x[:5]).numpy(), rtol=1e-5, atol=1e-5)
    found = kmeans_on_hidden(model, data, 3, seed=2)
    labels = baselines.kmeans(hidden, 3, seed=2)
    assert found["acc"] == pytest.approx(evaluation.accuracy(data.y, labels))
    assert found["acc"] == pytest.approx(results["kmeans_hidden"]["acc"], abs=1e-6)


def test_summary_says_how_well_the_loss_ranked_the_runs(protocol):
    _, _, results, _ = protocol
    summary = results["summary"]
    assert 1 <= summary["best_acc_rank"] <= 3
    rho = summary["loss_acc_spearman"]
    assert rho is None or -1.0 <= rho <= 1.0
    accs = sorted((r["acc"] for r in results["runs"]), reverse=True)
    assert accs[summary["best_acc_rank"] - 1] == pytest.approx(results["best"]["acc"])
    assert all(r["seconds"] is None or r["seconds"] >= 0 for r in results["runs"])


def test_rerun_reuses_cached_baselines(protocol, monkeypatch):
    data, out, results, _ = protocol
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr(baselines, "kmeans_baseline", lambda *a, **k: pytest.fail("k-means again"))
    again, _ = run_protocol(data, config(), runs=3, seed=2, out_dir=out, verbose=0,
                            baselines=("kmeans", "kmeans_hidden"))
    assert again["kmeans"] == results["kmeans"]
    assert again["kmeans_hidden"] == results["kmeans_hidden"]


def test_unknown_baseline_fails_before_training(monkeypatch):
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="unknown baseline"):
        run_protocol(blobs(), config(), runs=1, baselines=("spectral",))


def test_baselines_without_labels_report_none():
    results, _ = run_protocol(blobs(labels=False), config(), runs=1, verbose=0, baselines="kmeans_hidden")
    assert results["kmeans_hidden"]["acc"] is None and results["kmeans_hidden"]["nmi"] is None
    assert "kmeans" not in results
