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
from ddc_tf.experiments.training import PartitionStart, partition_digest, predict_assignments, train_run
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
    cfg = config(steps=6, kmeans_init=5)  # a k-means start asked for, which the partition replaces
    calls = []
    monkeypatch.setattr(training, "kmeans_start", lambda *args: calls.append(args))
    import keras

    keras.utils.set_random_seed(2)
    by_hand = training.build_model(cfg, data)
    distill(by_hand, data, partition, steps=40, batch_size=cfg.batch_size, seed=2)
    fitted = predict_assignments(by_hand, data).argmax(1)
    assert evaluation.cluster_metrics(partition, fitted)["acc"] > 0.9  # it did learn the start
    started, _ = train_run(data, cfg, 2, verbose=0, start=PartitionStart(partition, 40))
    assert not calls  # the given partition, not k-means'
    straight, _ = train_run(data, config(steps=6), 2, verbose=0)
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
        assert record["signature"]["start"] == {"from": "ddc_ensemble", "seeds": [4, 5, 6],
                                                "partition": partition_digest(ensemble), "steps": 30}
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
    cfg = training_config(steps=10, neighbors=3)  # lr 1e-3, as test_grouped's equivalences; pairs as `ddc-tf fit`
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


@pytest.mark.slow  # a rare path (an independent run trained again); the default run keeps under 10 minutes
def test_refined_runs_of_an_ensemble_that_changed_are_trained_again(tmp_path):
    """Refined runs belong to the DDC-ENSEMBLE they started from: when an independent run it
    combines comes out otherwise (here its cluster ids are replaced, as a run trained again in
    another group would), the refined runs are trained anew from the new ensemble, with a
    warning; refined runs recorded before starts carried a digest are reused as they are."""
    data = blobs()
    cfg = config(steps=6)
    kwargs = dict(runs=3, seed=4, out_dir=tmp_path, verbose=0, refine_runs=1, refine_steps=5, refine_run_steps=4,
                  runs_at_once=3)
    first, _ = run_protocol(data, cfg, **kwargs)
    folder = refined_dir(tmp_path, 4, 6, 5, 4)
    # before digests: a refined run's record without one is trusted and reused
    recorded = run_dir(folder, 7) / "run.json"
    original = recorded.read_text()
    record = json.loads(original)
    del record["signature"]["start"]["partition"]
    recorded.write_text(json.dumps(record))
    again, _ = run_protocol(data, cfg, **kwargs)
    assert again["runs"] == first["runs"]
    recorded.write_text(original)
    # an independent run that changed changes the ensemble: its refined runs are stale
    other = (np.arange(data.n) * 5) % 3
    np.save(run_dir(tmp_path, 4) / "clusters.npy", other)
    with pytest.warns(UserWarning, match=r"seed_7: a refined run that started from another DDC-ENSEMBLE"):
        run_protocol(data, cfg, **kwargs)
    ensemble = np.load(tmp_path / "ensemble_clusters.npy")
    assert partition_digest(ensemble) != json.loads(original)["signature"]["start"]["partition"]
    start = json.loads(recorded.read_text())["signature"]["start"]
    assert start["partition"] == partition_digest(ensemble)


def test_a_refined_backup_of_another_ensemble_starts_over_and_one_from_before_digests_resumes(tmp_path):
    from ddc_tf.experiments import protocol
    from ddc_tf.experiments.resume import STATE_FILE, backup_key

    data, cfg = blobs(), config(steps=6)
    fingerprint = protocol.run_files.data_fingerprint(data)
    start = PartitionStart(np.arange(data.n) % 3, 5, {"from": "ddc_ensemble", "seeds": [0, 1, 2]})
    signature = protocol._config_signature(data, cfg, start)
    key = protocol._backup_key(fingerprint, signature, [7], "mlp")

    def backup_under(stored_signature):
        folder = tmp_path / "backup"
        folder.mkdir(exist_ok=True)
        (folder / STATE_FILE).write_text(json.dumps(
            {"epoch": 1, "weights": "w.h5", "fingerprint": protocol._backup_key(fingerprint, stored_signature, [7],
                                                                                  "mlp")}))
        return folder

    legacy = backup_under(protocol._without_start_partition(signature))
    assert protocol._open_backup(legacy, fingerprint, signature, [7], "mlp") == key
    assert backup_key(legacy) == key  # re-keyed: it resumes
    stale = backup_under({**signature, "start": {**signature["start"], "partition": "0123456789abcdef"}})
    with pytest.warns(UserWarning, match="another DDC-ENSEMBLE"):
        assert protocol._open_backup(stale, fingerprint, signature, [7], "mlp") == key
    assert not stale.exists()
    other = backup_under({**signature, "start": {**signature["start"], "steps": 4}})
    with pytest.raises(ValueError, match=r"backup of another run \(start.steps: 4 there, 5 here\)"):
        protocol._open_backup(other, fingerprint, signature, [7], "mlp")


def test_an_ot_run_started_from_a_partition_keeps_its_fitted_centroids():
    """The first step's k-means placement of OT's centroids (non-uniform shares) would re-rank
    the centroids the start fitted; the start marks them placed."""
    data = blobs()
    partition = np.arange(data.n) % 3
    cfg = config(method="ot", proportions=(0.5, 0.3, 0.2))
    model = training.build_model(cfg, data)
    assert model.uses_centroid_init
    training.prepare_start(model, data, cfg, 0, start=PartitionStart(partition, 20))
    assert float(model.centroids_initialized.numpy()) == 1.0
    centroids = model.centroids.numpy().copy()
    model.before_train_step(data.x[:40])
    np.testing.assert_array_equal(model.centroids.numpy(), centroids)
