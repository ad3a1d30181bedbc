"""ddc_tf.experiments.protocol.run_protocol: R runs, lowest-loss run, DDC-VOTE, results.json, resume."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

import ddc_tf.experiments.protocol
from ddc_tf import evaluation
from ddc_tf.data import ArrayData
from ddc_tf.models import DDC
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig, dataset_loss, predict_assignments

SEED = 5


def blobs(labels: bool = True, n: int = 120) -> ArrayData:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.normal(scale=3.0, size=(3, 4))[y] + rng.normal(scale=0.7, size=(n, 4))
    return ArrayData(
        x=x.astype(np.float32), y=y.astype(np.int64) if labels else None,
        name="blobs" if labels else "blobs-unlabelled", kind="vector", raw_dtype="float32", scale=1.0,
    )


def config(**kwargs) -> TrainConfig:
    kwargs = {"n_clusters": 3, "backbone": "mlp", "steps": 4, "batch_size": 40,
              "learning_rate": 1e-2, "hidden_units": 16, **kwargs}
    return TrainConfig(**kwargs)


def check_schema(results: dict, *, runs: int, labelled: bool) -> None:
    """The issue's results.json schema (extra keys are allowed)."""
    for key in ("data", "n", "clusters", "steps", "runs", "best", "vote"):
        assert key in results, key
    assert isinstance(results["data"], str)
    assert isinstance(results["n"], int) and isinstance(results["clusters"], int)
    assert isinstance(results["steps"], int)
    assert len(results["runs"]) == runs
    for record in [*results["runs"], results["best"]]:
        assert {"seed", "loss", "acc", "nmi"} <= set(record)
        assert isinstance(record["seed"], int)
        assert isinstance(record["loss"], float) and np.isfinite(record["loss"])
        for metric in ("acc", "nmi"):
            if labelled:
                assert isinstance(record[metric], float) and 0.0 <= record[metric] <= 1.0
            else:
                assert record[metric] is None
    if runs >= 3:
        assert isinstance(results["vote"], dict)
        assert {"acc", "nmi"} <= set(results["vote"])
        for metric in ("acc", "nmi"):
            if labelled:
                assert 0.0 <= results["vote"][metric] <= 1.0
            else:
                assert results["vote"][metric] is None
    else:
        assert results["vote"] is None


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """One labelled protocol of 3 runs written to a folder: (data, config, out, results, model)."""
    out = tmp_path_factory.mktemp("protocol") / "out"
    data, cfg = blobs(), config()
    results, model = run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0, selector="loss")
    return data, cfg, out, results, model


def test_three_runs_results_and_results_json(three_runs):
    data, cfg, out, results, _ = three_runs
    check_schema(results, runs=3, labelled=True)
    assert results["data"] == "blobs"
    assert results["n"] == data.n == 120
    assert results["clusters"] == 3
    assert results["steps"] == cfg.steps
    assert [r["seed"] for r in results["runs"]] == [SEED, SEED + 1, SEED + 2]

    on_disk = json.loads((out / "results.json").read_text())
    check_schema(on_disk, runs=3, labelled=True)
    assert on_disk["best"] == results["best"]
    assert on_disk["vote"] == results["vote"]
    assert on_disk["runs"] == results["runs"]


def test_best_is_the_lowest_loss_run_and_its_model_is_saved(three_runs):
    data, cfg, out, results, model = three_runs
    lowest = min(results["runs"], key=lambda r: r["loss"])
    assert results["best"]["seed"] == lowest["seed"]
    assert results["best"]["loss"] == lowest["loss"]
    assert len({r["loss"] for r in results["runs"]}) == 3  # the seeds gave different runs

    # the returned model is the best run, and its loss is the unsupervised loss over the data
    assert isinstance(model, DDC)
    assert dataset_loss(model, data, batch_size=cfg.batch_size)["loss"] == pytest.approx(
        results["best"]["loss"], rel=1e-5
    )
    clusters = predict_assignments(model, data).argmax(axis=1)
    assert evaluation.accuracy(data.y, clusters) == pytest.approx(results["best"]["acc"])
    assert evaluation.nmi(data.y, clusters) == pytest.approx(results["best"]["nmi"])

    # model.keras in the folder is that model
    loaded = keras.models.load_model(out / "model.keras")
    assert isinstance(loaded, DDC)
    np.testing.assert_allclose(loaded.predict(data.x, verbose=0), model.predict(data.x, verbose=0), atol=1e-6)


def test_vote_combines_the_three_lowest_loss_runs(three_runs):
    data, _, out, results, _ = three_runs
    ordered = sorted(results["runs"], key=lambda r: r["loss"])
    labelings = []
    for record in ordered:  # each run's own saved model, read back
        run_model = keras.models.load_model(out / "runs" / f"seed_{record['seed']}" / "model.keras")
        labelings.append(predict_assignments(run_model, data).argmax(axis=1))
        assert evaluation.accuracy(data.y, labelings[-1]) == pytest.approx(record["acc"])
    voted = evaluation.vote(labelings)
    assert results["vote"]["acc"] == pytest.approx(evaluation.accuracy(data.y, voted))
    assert results["vote"]["nmi"] == pytest.approx(evaluation.nmi(data.y, voted))


def test_repeating_the_protocol_does_not_retrain(three_runs, monkeypatch):
    data, cfg, out, results, model = three_runs

    def no_training(*args, **kwargs):
        raise AssertionError("train_run called again for a finished run")

    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", no_training)
    again, again_model = run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0, selector="loss")
    assert again["runs"] == results["runs"]
    assert again["best"] == results["best"]
    assert again["vote"] == results["vote"]
    assert isinstance(again_model, DDC)
    np.testing.assert_allclose(
        again_model.predict(data.x, verbose=0), model.predict(data.x, verbose=0), atol=1e-6
    )


def test_a_different_config_in_the_same_folder_raises(three_runs, monkeypatch):
    data, cfg, out, _, _ = three_runs
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="different configuration") as error:
        run_protocol(data, config(steps=cfg.steps + 1), runs=3, seed=SEED, out_dir=out, verbose=0)
    assert f"config.steps: {cfg.steps} there, {cfg.steps + 1} here" in str(error.value)  # names what differs
    with pytest.raises(ValueError, match="different configuration"):
        run_protocol(blobs(n=90), cfg, runs=3, seed=SEED, out_dir=out, verbose=0)


def test_runs_of_another_precision_are_refused_and_float32_signatures_are_unchanged(three_runs, monkeypatch):
    """A bf16 protocol does not take the folder's float32 runs for its own (the policy is part of
    a run's signature), while a float32 signature has no precision entry, so runs recorded before
    the policy was part of it still match; results name the policy."""
    data, cfg, out, results, _ = three_runs
    assert results["precision"] == "float32"
    stored = json.loads((out / "runs" / f"seed_{SEED}" / "run.json").read_text())["signature"]
    assert "precision" not in stored
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # conftest resets it afterwards
    with pytest.raises(ValueError, match="different configuration") as error:
        run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0, selector="loss")
    assert "precision: (not set) there, 'mixed_bfloat16' here" in str(error.value)
    assert "--mixed-precision float32 continues these runs" in str(error.value)


def test_a_bf16_run_recorded_before_the_policy_joined_the_signature_is_read_from_its_model(tmp_path, monkeypatch):
    """An earlier release's ``--mixed-precision bfloat16`` run has no precision in its signature;
    its saved model's policy says what it is: reused in bf16, refused in float32."""
    data, cfg = blobs(n=60), config()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # conftest resets it afterwards
    results, _ = run_protocol(data, cfg, runs=1, seed=SEED, out_dir=tmp_path, verbose=0)
    assert results["precision"] == "mixed_bfloat16"
    run_file = tmp_path / "runs" / f"seed_{SEED}" / "run.json"
    record = json.loads(run_file.read_text())
    assert record["signature"].pop("precision") == "mixed_bfloat16"
    run_file.write_text(json.dumps(record))  # as the earlier release wrote it
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    again, _ = run_protocol(data, cfg, runs=1, seed=SEED, out_dir=tmp_path, verbose=0)
    assert again["runs"] == results["runs"]
    keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(ValueError, match="--mixed-precision bfloat16 continues these runs"):
        run_protocol(data, cfg, runs=1, seed=SEED, out_dir=tmp_path, verbose=0)


def test_the_same_data_under_another_name_reuses_the_runs(three_runs, monkeypatch):
    """A run depends on the data's contents (its fingerprint), not on how its path was spelled:
    ``./mine.npz`` after ``/abs/mine.npz``, or a copy, reuses the finished runs."""
    import dataclasses

    data, cfg, out, results, _ = three_runs
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    again, _ = run_protocol(dataclasses.replace(data, name="./elsewhere/blobs-copy.npz"), cfg, runs=3, seed=SEED,
                            out_dir=out, verbose=0)
    assert again["runs"] == results["runs"]
    other = dataclasses.replace(data, x=data.x + np.float32(1.0), name="./elsewhere/blobs-copy.npz")
    with pytest.raises(ValueError, match=r"trained on other data than \./elsewhere/blobs-copy\.npz "
                                         r"\(there 'blobs', different inputs or labels\)"):  # other contents: refused
        run_protocol(other, cfg, runs=3, seed=SEED, out_dir=out, verbose=0)


def test_an_interrupted_run_resumes_under_another_name(tmp_path, capsys):
    """The backup, like a finished run, belongs to the data's contents, not to its path's spelling;
    other contents are refused."""
    import dataclasses

    from test_training import Interrupt, InterruptAfter

    data, cfg = blobs(), config(steps=30)
    straight, _ = run_protocol(data, cfg, runs=1, seed=SEED, out_dir=None, verbose=0)
    out = tmp_path / "renamed"
    with pytest.raises(Interrupt):
        run_protocol(dataclasses.replace(data, name="/abs/mine.npz"), cfg, runs=1, seed=SEED, out_dir=out,
                     verbose=0, callbacks_for=lambda seed: [InterruptAfter(14)])
    capsys.readouterr()
    resumed, _ = run_protocol(dataclasses.replace(data, name="./mine.npz"), cfg, runs=1, seed=SEED, out_dir=out,
                              verbose=1)
    assert f"seed {SEED}: resumed from its backup after 12 of 30 steps" in capsys.readouterr().out
    assert resumed["runs"][0]["loss"] == pytest.approx(straight["runs"][0]["loss"], abs=1e-5)

    other = tmp_path / "other"
    with pytest.raises(Interrupt):
        run_protocol(data, cfg, runs=1, seed=SEED, out_dir=other, verbose=0,
                     callbacks_for=lambda seed: [InterruptAfter(14)])
    with pytest.raises(ValueError, match=r"holds a backup of another run \(other data: different inputs or labels\)"):
        run_protocol(dataclasses.replace(data, x=data.x + np.float32(1.0)), cfg, runs=1, seed=SEED,
                     out_dir=other, verbose=0)
    # another configuration: the refusal names the settings that differ, as for a finished run
    with pytest.raises(ValueError, match=r"holds a backup of another run \(config.learning_rate: 0.01 there, "
                                         r"0.003 here\); use another --out folder, or delete the backup"):
        run_protocol(data, dataclasses.replace(cfg, learning_rate=3e-3), runs=1, seed=SEED, out_dir=other, verbose=0)


@pytest.mark.slow  # a backup of an earlier release: the default run keeps under 10 minutes
def test_a_backup_under_an_earlier_releases_key_is_rekeyed_and_resumed(tmp_path, capsys):
    """A backup written when its key held the data's name is re-keyed and resumed."""
    from ddc_tf.experiments.protocol import _backup_key, _config_signature
    from ddc_tf.experiments.training import train_run
    from ddc_tf.run_files import data_fingerprint
    from test_training import Interrupt, InterruptAfter

    data, cfg = blobs(), config(steps=30)
    signature = _config_signature(data, cfg, None)
    legacy = f"{data_fingerprint(data)}:{json.dumps(signature, sort_keys=True)}:{SEED}"
    with pytest.raises(Interrupt):
        train_run(data, cfg, SEED, verbose=0, callbacks=[InterruptAfter(14)],
                  backup_dir=tmp_path / "runs" / f"seed_{SEED}" / "backup", fingerprint=legacy)
    assert legacy != _backup_key(data_fingerprint(data), signature, [SEED], None)
    capsys.readouterr()
    run_protocol(data, cfg, runs=1, seed=SEED, out_dir=tmp_path, verbose=1)
    assert f"seed {SEED}: resumed from its backup after 12 of 30 steps" in capsys.readouterr().out


def test_settings_that_resolve_alike_are_the_same_run(tmp_path, monkeypatch):
    """``backbone="auto"`` and its resolution, a default learning rate and its value: one run
    (``--preset digits-cpu`` against the same settings spelled out)."""
    data = blobs()
    implicit = TrainConfig(n_clusters=3, backbone="auto", steps=2, batch_size=40, hidden_units=16)
    first, _ = run_protocol(data, implicit, runs=1, seed=SEED, out_dir=tmp_path, verbose=0)
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    explicit = TrainConfig(n_clusters=3, backbone="mlp", learning_rate=1e-3, steps=2, batch_size=40, hidden_units=16)
    again, _ = run_protocol(data, explicit, runs=1, seed=SEED, out_dir=tmp_path, verbose=0)
    assert again["runs"] == first["runs"]
    with pytest.raises(ValueError, match=r"config.learning_rate: 0.001 there, 0.01 here"):
        run_protocol(data, TrainConfig(n_clusters=3, backbone="mlp", learning_rate=1e-2, steps=2, batch_size=40,
                                       hidden_units=16), runs=1, seed=SEED, out_dir=tmp_path, verbose=0)


# runs_at_once=2 (a group's backup, its seconds divided among its runs) with -m slow: the default run keeps
# under 10 minutes; test_grouped's protocol test checks the division on a group trained at once
@pytest.mark.parametrize("runs_at_once", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_a_resumed_runs_seconds_count_what_it_trained_before_the_interruption(tmp_path, runs_at_once,
                                                                               monkeypatch):
    """A run's (or group's) backup records the wall seconds trained so far, over every process;
    the resumed run's record counts them, not only its own part."""
    from ddc_tf.experiments import protocol
    from ddc_tf.experiments.protocol import _group_backup, _run_backup
    from ddc_tf.experiments.resume import STATE_FILE, backup_seconds
    from ddc_tf.run_files import run_dir
    from test_training import Interrupt, InterruptAfter

    data, cfg = blobs(), config(steps=30)
    with monkeypatch.context() as patch, pytest.raises(Interrupt):
        for name in ("train_run", "train_runs"):
            train = getattr(protocol, name)
            patch.setattr(protocol, name,
                          lambda *a, _train=train, **k: _train(*a, **{**k, "callbacks": [InterruptAfter(14)]}))
        run_protocol(data, cfg, runs=runs_at_once, seed=SEED, out_dir=tmp_path, verbose=0, runs_at_once=runs_at_once)
    seeds = [SEED + r for r in range(runs_at_once)]
    backup = _run_backup(run_dir(tmp_path, SEED)) if runs_at_once == 1 else _group_backup(tmp_path, seeds)
    assert backup_seconds(backup) > 0
    state = json.loads((backup / STATE_FILE).read_text())
    (backup / STATE_FILE).write_text(json.dumps({**state, "seconds": 1000.0}))  # as if the first part took long
    resumed, _ = run_protocol(data, cfg, runs=runs_at_once, seed=SEED, out_dir=tmp_path, verbose=0,
                              runs_at_once=runs_at_once)
    per_run = 1000.0 / runs_at_once
    assert all(per_run < r["seconds"] < per_run + 120 for r in resumed["runs"])
    assert backup_seconds(tmp_path / "nowhere") == 0.0


def test_seconds_a_pre_training_trained_before_an_interruption_are_counted(tmp_path):
    """A sibling run (or group) interrupted in its DDC pre-training has no state of its own yet:
    its time so far is what its members' pre-training backups record, and the run's first
    chunk records that plus its own time."""
    from ddc_tf.experiments.resume import STATE_FILE, ChunkCheckpoint, backup_seconds, pretraining_backup

    backup = tmp_path / "backup"
    # a group's members pre-train one after the other; a pre-training of other settings is trained anew
    for seed, seconds, key in ((3, 12.5, "key/pretrain"), (4, 7.0, "key/pretrain"), (5, 500.0, "other/pretrain")):
        pretraining_backup(backup, seed).mkdir(parents=True)
        (pretraining_backup(backup, seed) / STATE_FILE).write_text(
            json.dumps({"epoch": 2, "seconds": seconds, "fingerprint": key}))
    assert backup_seconds(backup, "key") == 19.5 and backup_seconds(backup) == 0.0
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoint = ChunkCheckpoint(backup, "key")
    checkpoint.set_model(model)
    assert checkpoint.restore(model) == 0
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    assert 19.5 < backup_seconds(backup) == backup_seconds(backup, "key") < 19.5 + 60  # the run's own state now
    assert backup_seconds(pretraining_backup(backup, 3)) == 12.5


def test_a_setting_left_at_its_default_is_named_with_its_value():
    """A config leaves some defaults out of its signature (a DDC run has no ``method``); a
    difference names the default's value, not a blank."""
    from ddc_tf.experiments.protocol import _signature_difference

    ot = {"data": "d", "config": {"method": "ot", "steps": 5}}
    ddc = {"data": "d", "config": {"steps": 5}}
    assert _signature_difference(ot, ddc) == "config.method: 'ot' there, 'ddc' (the default) here"
    assert _signature_difference({"data": "d"}, {"data": "d", "precision": "mixed_bfloat16"}) == \
        "precision: (not set) there, 'mixed_bfloat16' here"


def test_proportions_are_compared_as_the_shares_they_normalise_to(tmp_path):
    """``50,30,20`` and ``0.5,0.3,0.2`` (or sizes) train the same run: a folder of one reuses it
    for the other; other shares are another configuration. A backup keyed, as before, by the
    shares as given still resumes."""
    from ddc_tf.experiments import protocol
    from ddc_tf.experiments.resume import STATE_FILE, backup_key
    from ddc_tf.run_files import data_fingerprint

    data = blobs()
    first, _ = run_protocol(data, config(proportions=(50, 30, 20)), runs=1, seed=SEED, out_dir=tmp_path, verbose=0)
    again, _ = run_protocol(data, config(proportions=(0.5, 0.3, 0.2)), runs=1, seed=SEED, out_dir=tmp_path,
                            verbose=0)
    assert again["runs"] == first["runs"]
    with pytest.raises(ValueError, match=r"config.proportions: \[0.5, 0.3, 0.2\] there, \[0.4, 0.4, 0.2\] here"):
        run_protocol(data, config(proportions=(2, 2, 1)), runs=1, seed=SEED, out_dir=tmp_path, verbose=0)

    signature = protocol._config_signature(data, config(proportions=(50, 30, 20)))
    fingerprint = data_fingerprint(data)
    as_given = protocol._key(fingerprint, {**protocol._resolved_signature(signature, "mlp", normalise=False),
                                           "data": None}, [SEED])
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / STATE_FILE).write_text(json.dumps({"epoch": 1, "weights": "w.h5", "fingerprint": as_given}))
    key = protocol._open_backup(backup, fingerprint, signature, [SEED], "mlp")
    assert key != as_given and backup_key(backup) == key


def test_an_interrupted_run_resumes_with_settings_that_resolve_alike(tmp_path, capsys):
    from test_training import Interrupt, InterruptAfter

    data = blobs()
    implicit = TrainConfig(n_clusters=3, backbone="auto", steps=30, batch_size=40, hidden_units=16)
    with pytest.raises(Interrupt):
        run_protocol(data, implicit, runs=1, seed=SEED, out_dir=tmp_path, verbose=0,
                     callbacks_for=lambda seed: [InterruptAfter(14)])
    capsys.readouterr()
    explicit = TrainConfig(n_clusters=3, backbone="mlp", learning_rate=1e-3, steps=30, batch_size=40, hidden_units=16)
    run_protocol(data, explicit, runs=1, seed=SEED, out_dir=tmp_path, verbose=1)
    assert f"seed {SEED}: resumed from its backup after 12 of 30 steps" in capsys.readouterr().out


def test_a_run_from_before_fingerprints_under_another_name_is_not_taken_for_this_data(tmp_path, monkeypatch):
    """Without a recorded fingerprint nothing says the contents are the same: another name stays
    another configuration, as before fingerprints were compared."""
    import dataclasses

    data, cfg, out = blobs(), config(), tmp_path / "out"
    run_protocol(data, cfg, runs=1, seed=SEED, out_dir=out, verbose=0)
    for run in (out / "runs").iterdir():
        record = json.loads((run / "run.json").read_text())
        del record["data_fingerprint"]
        (run / "run.json").write_text(json.dumps(record))
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=r"different configuration \(data: 'blobs' there, 'mine.npz' here\)"):
        run_protocol(dataclasses.replace(data, name="mine.npz"), cfg, runs=1, seed=SEED, out_dir=out, verbose=0)


def test_selectors_rank_the_same_runs_without_retraining(three_runs, monkeypatch):
    from ddc_tf import selection

    data, cfg, out, results, _ = three_runs
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained"))
    labelings = [np.load(out / "runs" / f"seed_{r['seed']}" / "clusters.npy") for r in results["runs"]]
    np.testing.assert_allclose([r["consensus"] for r in results["runs"]],
                               selection.consensus_scores(labelings))
    # DDC-ENSEMBLE: the consensus clustering of all runs, whatever the selector
    combined = selection.ensemble(labelings, cfg.n_clusters, seed=SEED)
    np.testing.assert_allclose([r["ensemble_agreement"] for r in results["runs"]],
                               selection.ensemble_agreement(labelings, combined))
    for name in selection.SELECTORS:
        picked, _ = run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0,
                                 selector=name, vote_runs=2)
        order = selection.rank_runs(results["runs"], labelings, name, combined=combined)
        assert picked["selector"] == name
        assert picked["best"] == {k: results["runs"][order[0]][k] for k in ("seed", "refined", "loss", "acc", "nmi")}
        assert picked["vote"]["seeds"] == [results["runs"][i]["seed"] for i in order[:2]]
        voted = evaluation.vote([labelings[i] for i in order[:2]])
        assert picked["vote"]["acc"] == pytest.approx(evaluation.accuracy(data.y, voted))
        accs = np.array([r["acc"] for r in results["runs"]])
        assert picked["summary"]["chosen_acc_rank"] == 1 + int((accs > accs[order[0]]).sum())
    assert picked["ensemble"]["seeds"] == [r["seed"] for r in results["runs"]]
    assert picked["ensemble"]["acc"] == pytest.approx(evaluation.accuracy(data.y, combined))
    np.testing.assert_array_equal(np.load(out / "ensemble_clusters.npy"), combined)
    with pytest.raises(ValueError, match="selector"):
        run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0, selector="acc")
    with pytest.raises(ValueError, match="vote_runs"):
        run_protocol(data, cfg, runs=3, seed=SEED, out_dir=out, verbose=0, vote_runs=1)


def test_one_run_has_no_vote_and_needs_no_folder():
    data = blobs()
    results, model = run_protocol(data, config(steps=2), runs=1, seed=0, out_dir=None, verbose=0)
    check_schema(results, runs=1, labelled=True)
    assert results["vote"] is None
    assert results["best"]["seed"] == 0
    assert isinstance(model, DDC)


def test_without_labels_acc_and_nmi_are_null(tmp_path):
    data = blobs(labels=False)
    results, _ = run_protocol(data, config(steps=2), runs=3, seed=0, out_dir=tmp_path, verbose=0)
    check_schema(results, runs=3, labelled=False)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    check_schema(on_disk, runs=3, labelled=False)
    assert on_disk["best"]["acc"] is None and on_disk["vote"]["nmi"] is None


def test_runs_must_be_positive():
    with pytest.raises(ValueError, match="runs"):
        run_protocol(blobs(), config(), runs=0)


def test_a_folder_keeps_only_the_combined_clusters_of_its_last_protocol(tmp_path):
    """Re-running into a folder with fewer runs or no distillation leaves no earlier
    protocol's DDC-VOTE / DDC-ENSEMBLE / DDC-DISTILLED cluster files behind; DDC-VOTE's file
    is written whenever DDC-VOTE runs, also with fewer runs than DDC-ENSEMBLE needs."""
    data, cfg = blobs(), config(steps=2)
    files = ("vote_clusters.npy", "ensemble_clusters.npy", "distilled_clusters.npy")
    run_protocol(data, cfg, runs=3, seed=0, out_dir=tmp_path, verbose=0, distill_steps=2)
    assert all((tmp_path / f).exists() for f in files)
    results, _ = run_protocol(data, cfg, runs=3, seed=0, out_dir=tmp_path, verbose=0, distill_steps=0)
    assert results["distilled"] is None and not (tmp_path / "distilled_clusters.npy").exists()
    assert (tmp_path / "vote_clusters.npy").exists() and (tmp_path / "ensemble_clusters.npy").exists()
    results, _ = run_protocol(data, cfg, runs=2, seed=0, out_dir=tmp_path, verbose=0, vote_runs=2)
    assert results["ensemble"] is None and not (tmp_path / "ensemble_clusters.npy").exists()
    assert results["vote"] is not None
    assert evaluation.accuracy(np.load(tmp_path / "vote_clusters.npy"), data.y) == pytest.approx(results["vote"]["acc"])
    run_protocol(data, cfg, runs=1, seed=0, out_dir=tmp_path, verbose=0)
    assert not any((tmp_path / f).exists() for f in files)


def test_backups_another_grouping_cannot_resume_are_named_not_silently_passed_over(tmp_path, monkeypatch):
    """Named before anything trains (training is stopped at its start here)."""
    from ddc_tf.experiments import protocol

    class Training(Exception):
        pass

    def training(*args, **kwargs):
        raise Training

    monkeypatch.setattr(protocol, "train_runs", training)
    data, cfg = blobs(), config(steps=2)
    (tmp_path / "backup_seeds_0_1").mkdir()  # an interrupted group of 2 (--runs 2)
    (tmp_path / "backup_seeds_7_8").mkdir()  # other seeds: not this protocol's
    with pytest.warns(UserWarning, match=r"backup_seeds_0_1: the backup of an interrupted run of another grouping.*"
                                         r"seeds 0, 1, 2 start over") as caught, pytest.raises(Training):
        run_protocol(data, cfg, runs=3, seed=0, out_dir=tmp_path, verbose=0, runs_at_once=3)
    assert not any("backup_seeds_7_8" in str(w.message) for w in caught)
    assert (tmp_path / "backup_seeds_0_1").is_dir()  # left as it was
    (tmp_path / "runs" / "seed_3" / "backup").mkdir(parents=True)  # an interrupted run trained alone
    with pytest.warns(UserWarning, match=r"seed_3/backup: the backup .* seeds 3, 4 start over"), pytest.raises(Training):
        run_protocol(data, cfg, runs=2, seed=3, out_dir=tmp_path, verbose=0, runs_at_once=2)


def test_an_interrupt_while_replacing_a_folders_outputs_leaves_no_old_results(tmp_path, monkeypatch):
    """results.json goes before any output is replaced: a fit interrupted while reading back its chosen
    run (or later) leaves a folder that reads as unfinished, not the old results beside new clusters."""
    from ddc_tf.experiments import protocol

    data, cfg = blobs(), config(steps=2)
    run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0)
    assert (tmp_path / "results.json").exists()

    def interrupted(run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(protocol, "_load_run_model", interrupted)
    with pytest.raises(KeyboardInterrupt):  # every run reused: the chosen one is read back from its folder
        run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, vote_runs=2)
    assert not (tmp_path / "results.json").exists()


def test_kmeans_on_the_hidden_layer_is_reloaded_only_for_the_same_network(tmp_path, monkeypatch):
    """baselines.json's kmeans_hidden is keyed by the chosen run's seed and its clusters: a refined run
    of that seed, or one trained anew from another start, is another network."""
    from ddc_tf.experiments import protocol

    data = blobs()
    computed = []
    monkeypatch.setattr(protocol, "kmeans_on_hidden",
                        lambda *a, **k: computed.append(1) or {"acc": 0.5, "nmi": 0.5})
    clusters = np.arange(data.n) % 3
    for best in (clusters, clusters, (clusters + 1) % 3):
        result = protocol._run_baselines(["kmeans_hidden"], data, 3, 5, lambda: None, 0, tmp_path, best)
    assert len(computed) == 2 and "ddc_clusters" not in result["kmeans_hidden"]
