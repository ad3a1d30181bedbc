"""The protocol's refined runs (``run_protocol(refine_runs=M)``): M more runs whose fresh
networks are first fitted to DDC-ENSEMBLE of the R independent runs, then trained like every
run; ranked, voted and resumed with the others."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from ddc_tf import evaluation
from ddc_tf.experiments import training
from ddc_tf.experiments.distill import distill
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import PartitionStart, predict_assignments, train_run
from ddc_tf.experiments.grouped import train_runs
from ddc_tf.run_files import refined_dir, run_dir
from test_grouped import assert_same_run
from test_protocol import blobs, config
from test_training import config as training_config, small_vectors


def test_a_partition_start_is_distillation_then_the_run(monkeypatch):
    """train_run(start=...) = the fresh network distilled towards the partition (seeded by the
    run's seed), then the run's own steps; the start replaces the k-means start."""
    data = blobs()
    partition = (np.arange(data.n) * 7) % 3
    cfg = config(steps=6, kmeans_init=5)
    calls = []
    monkeypatch.setattr(training, "kmeans_start", lambda *args: calls.append(args))
    model, _ = train_run(data, cfg, 2, verbose=0, start=PartitionStart(partition, 40))
    assert not calls  # the given partition, not k-means'

    no_steps = config(steps=6)
    import keras

    keras.utils.set_random_seed(2)
    by_hand = training.build_model(no_steps, data)
    distill(by_hand, data, partition, steps=40, batch_size=no_steps.batch_size, seed=2)
    fitted = predict_assignments(by_hand, data).argmax(1)
    assert evaluation.cluster_metrics(partition, fitted)["acc"] > 0.9  # it did learn the start
    started, _ = train_run(data, no_steps, 2, verbose=0, start=PartitionStart(partition, 40))
    straight, _ = train_run(data, no_steps, 2, verbose=0)
    assert not np.allclose(predict_assignments(started, data), predict_assignments(straight, data))
    # the run after the start trains: its weights moved away from the distilled network
    assert any(not np.allclose(a, b) for a, b in zip(started.get_weights(), by_hand.get_weights()))


def test_refined_runs_start_from_the_ensemble_and_are_ranked_with_the_others(tmp_path, capsys):
    data = blobs()
    cfg = config(steps=10)
    results, _ = run_protocol(data, cfg, runs=3, seed=4, out_dir=tmp_path, verbose=0, progress=True,
                              refine_runs=2, refine_steps=30, refine_run_steps=4)
    runs = results["runs"]
    assert [r["seed"] for r in runs] == [4, 5, 6, 7, 8]
    assert [r["refined"] for r in runs] == [False, False, False, True, True]
    assert results["ensemble"]["seeds"] == [4, 5, 6]  # the ensemble is that of the independent runs
    assert len(results["vote"]["seeds"]) == 3  # the better half of the three independent runs, at least 3
    out = capsys.readouterr().out
    assert "refined run 1/2 (seed 7)" in out and "run 3/3 (seed 6)" in out
    assert results["refine"] == {"runs": 2, "start_steps": 30, "steps": 4}
    folder = refined_dir(tmp_path, 4, 6, 30, 4)
    assert folder.name == "from_seeds_4-6_start30_steps4"
    ensemble = np.load(tmp_path / "ensemble_clusters.npy")
    for seed in (7, 8):
        record = json.loads((run_dir(folder, seed) / "run.json").read_text())
        assert record["signature"]["start"] == {"from": "ddc_ensemble", "seeds": [4, 5, 6], "steps": 30}
        assert record["signature"]["config"]["steps"] == 4  # the refined runs' own length
        assert record["signature"]["config"] == {**results["config"], "steps": 4}
        clusters = np.load(run_dir(folder, seed) / "clusters.npy")
        assert evaluation.cluster_metrics(ensemble, clusters)["nmi"] > 0.5  # near where they started
    assert not (tmp_path / "runs" / "seed_7").exists()
    # the pick's model is the one saved, wherever it lives
    best = results["best"]
    assert set(best) >= {"seed", "refined"}
    # repeating the command trains nothing; more independent runs start new refined runs
    again, _ = run_protocol(data, cfg, runs=3, seed=4, out_dir=tmp_path, verbose=0, refine_runs=2, refine_steps=30,
                            refine_run_steps=4)
    assert [r["loss"] for r in again["runs"]] == [r["loss"] for r in runs]
    more, _ = run_protocol(data, cfg, runs=4, seed=4, out_dir=tmp_path, verbose=0, refine_runs=1, refine_steps=30,
                           runs_at_once=2)  # the refined run trained as a group (of one), by default ≤ 10 steps
    assert (refined_dir(tmp_path, 4, 7, 30, 10) / "runs" / "seed_8" / "run.json").exists()  # other settings, other folder
    assert [r["loss"] for r in more["runs"][:3]] == [r["loss"] for r in runs[:3]]
    stale = refined_dir(tmp_path, 4, 6, 30, 4) / "runs" / "seed_7" / "run.json"
    record = json.loads(stale.read_text())
    record["signature"]["start"]["steps"] = 29
    stale.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="different configuration"):  # a folder that holds another start
        run_protocol(data, cfg, runs=3, seed=4, out_dir=tmp_path, verbose=0, refine_runs=2, refine_steps=30,
                     refine_run_steps=4)


def test_runs_trained_together_from_a_partition_equal_those_trained_alone():
    data = small_vectors()
    cfg = training_config(steps=10)  # lr 1e-3, as test_grouped's equivalences
    start = PartitionStart((np.arange(data.n) * 7) % 3, 5, {"from": "test"})
    together = train_runs(data, cfg, [3, 4], start=start)
    for seed, result in zip([3, 4], together):
        assert_same_run(train_run(data, cfg, seed, verbose=0, start=start), result)


def test_refine_runs_needs_an_ensemble_and_one_device():
    data = blobs()
    with pytest.raises(ValueError, match="runs ≥ 3"):
        run_protocol(data, config(), runs=2, verbose=0, refine_runs=1)
    with pytest.raises(ValueError, match="refine_runs must be"):
        run_protocol(data, config(), runs=3, verbose=0, refine_runs=-1)
    with pytest.raises(ValueError, match="refine_steps must be"):
        run_protocol(data, config(), runs=3, verbose=0, refine_runs=1, refine_steps=0)
    with pytest.raises(ValueError, match="refine_run_steps must be"):
        run_protocol(data, config(), runs=3, verbose=0, refine_runs=1, refine_run_steps=0)
    with pytest.raises(ValueError, match="one device"):
        run_protocol(data, config(strategy="mirrored"), runs=3, verbose=0, refine_runs=1)
