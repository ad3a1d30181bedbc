"""R runs trained together (``train_runs`` / ``RunGroup``) against the same runs trained
alone (``train_run``): the same loss curves and weights, per method, with neighbour pairs,
gradient clipping, DDC pre-training and the k-means start, and an exact resume after an
interruption."""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.experiments.grouped import (RUNTIME_STARTED, THREAD_POOL_ENV, ops_side_by_side,
                                        size_pools_side_by_side, train_runs)
from ddc_tf.experiments.training import train_run
from ddc_tf.models.group import RunGroup
from test_training import Interrupt, InterruptAfter, config, small_vectors


def assert_same_run(alone, together, rtol=1e-5, atol=1e-6):
    (model_a, history_a), (model_b, history_b) = alone, together
    assert set(history_a) == set(history_b)
    for key in history_a:
        np.testing.assert_allclose(history_b[key], history_a[key], rtol=rtol, atol=atol, err_msg=key)
    # Weights to a few Adam steps (lr 1e-3): a bias just before batch norm has a gradient of
    # pure rounding noise (the norm removes it), which Adam's normalisation turns into ±lr steps.
    for got, want in zip(model_b.weights, model_a.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-3, atol=3e-4, err_msg=got.path)


@pytest.mark.parametrize("options", [
    {},
    # pairs and a partition start (prepare_start, as the k-means start) in the default run: test_refine's
    # test_runs_trained_together_from_a_partition_equal_those_trained_alone
    pytest.param({"neighbors": 3}, marks=pytest.mark.slow),
    pytest.param({"method": "ot", "neighbors": 3}, marks=pytest.mark.slow),
    pytest.param({"method": "dcan", "pretrain_steps": 4}, marks=pytest.mark.slow),
    pytest.param({"input_dropout": 0.1, "lr_schedule": "cosine"}, marks=pytest.mark.slow),
    pytest.param({"neighbors": 3, "kmeans_init": 5}, marks=pytest.mark.slow),
], ids=["ddc", "ddc_neighbors", "ot_neighbors", "dcan_pretrained", "ddc_dropout_cosine", "ddc_kmeans_start"])
def test_runs_trained_together_equal_the_runs_trained_alone(options, capsys):
    data = small_vectors()
    cfg = config(steps=10, **options)
    seeds = [3, 4, 5] if not options else [3, 4]  # three members once; two show the rest
    together = train_runs(data, cfg, seeds)
    assert capsys.readouterr().out == ""  # a quiet group (verbose=0) prints nothing
    alone = [train_run(data, cfg, seed, verbose=0) for seed in seeds]
    for result_alone, result in zip(alone, together):
        assert_same_run(result_alone, result)
    if not options:  # R = 1 is the single run too
        assert_same_run(alone[0], train_runs(data, cfg, [3])[0])


@pytest.fixture(scope="module")
def clipped_group():
    """Two runs (seeds 3, 4) trained together for 10 steps with clipping at 0.5, printing their
    progress (verbose=2): ``(config, results, printed lines)``."""
    import contextlib
    import io

    cfg = config(steps=10, clipnorm=0.5)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = train_runs(small_vectors(), cfg, [3, 4], verbose=2)
    return cfg, results, printed.getvalue().splitlines()


def test_gradient_clipping_is_each_members_own(clipped_group):
    """Clipping at 0.5 is active at every step here, and it amplifies the first step's
    reassociation (weights 4e-8 apart) faster than the loss does alone: 1e-4 after 10 steps.
    A joint clip over both members would change seed 3's steps too. (Printing progress leaves
    the training as it is.)"""
    cfg, together, _ = clipped_group
    assert_same_run(train_run(small_vectors(), cfg, 3, verbose=0), together[0], rtol=1e-4, atol=1e-5)


# bf16: what `ddc-tf fit` trains the CNN in on AMX CPUs (with -m slow: the default run keeps under 10 minutes)
@pytest.mark.parametrize("policy", ["float32", pytest.param("mixed_bfloat16", marks=pytest.mark.slow)])
def test_an_interrupted_group_resumes_exactly(tmp_path, policy):
    keras.mixed_precision.set_global_policy(policy)  # conftest resets it afterwards
    data = small_vectors()
    cfg = config(steps=30, neighbors=3)
    seeds = [0, 1]  # two members: each has its own state in the backup (three: the test above)
    straight = train_runs(data, cfg, seeds)
    with pytest.raises(Interrupt):
        train_runs(data, cfg, seeds, callbacks=[InterruptAfter(14)], backup_dir=tmp_path, fingerprint="g")
    resumed = train_runs(data, cfg, seeds, backup_dir=tmp_path, fingerprint="g")
    for a, b in zip(straight, resumed):
        assert_same_run(a, b)
    with pytest.raises(ValueError, match="another run"):
        train_runs(data, cfg, seeds, backup_dir=tmp_path, fingerprint="other")


def test_bad_groups_are_refused():
    data = small_vectors()
    with pytest.raises(ValueError, match="distinct"):
        train_runs(data, config(), [1, 1])
    with pytest.raises(ValueError, match="distinct"):
        train_runs(data, config(), [])
    with pytest.raises(ValueError, match="one device"):
        train_runs(data, config(strategy="mirrored"), [0, 1])
    with pytest.raises(ValueError, match="at least one member"):
        RunGroup([])


def test_the_protocol_trains_groups_of_runs_with_the_same_results(tmp_path):
    from ddc_tf.experiments.protocol import run_protocol

    data = small_vectors()
    cfg = config(steps=4, neighbors=3)
    alone, _ = run_protocol(data, cfg, runs=3, out_dir=tmp_path / "alone", verbose=0)
    grouped, _ = run_protocol(data, cfg, runs=3, out_dir=tmp_path / "grouped", verbose=0, runs_at_once=2)
    for a, b in zip(alone["runs"], grouped["runs"]):
        assert a["seed"] == b["seed"] and a["cluster_sizes"] == b["cluster_sizes"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    assert grouped["best"]["seed"] == alone["best"]["seed"]
    assert grouped["runs"][0]["seconds"] == grouped["runs"][1]["seconds"] > 0  # the group's time, divided
    assert not list((tmp_path / "grouped").glob("backup_seeds_*"))  # finished groups leave no backup
    # finished runs are reused, a group of one unfinished run trains just that one
    (tmp_path / "grouped" / "runs" / "seed_1" / "run.json").unlink()
    again, _ = run_protocol(data, cfg, runs=3, out_dir=tmp_path / "grouped", verbose=0, runs_at_once=3)
    assert [r["loss"] for r in again["runs"]] == pytest.approx([r["loss"] for r in grouped["runs"]], rel=1e-4)
    with pytest.raises(ValueError, match="runs_at_once"):
        run_protocol(data, cfg, runs=3, verbose=0, runs_at_once=2, callbacks_for=lambda seed: [])
    with pytest.raises(ValueError, match="runs_at_once must be a positive integer"):
        run_protocol(data, cfg, runs=3, verbose=0, runs_at_once=0)


def _interrupted_while_saving_then_repeated(tmp_path, monkeypatch, earlier_runs: int):
    """Protocols of 3 runs trained together in ``whole`` and ``cut`` (after ``earlier_runs`` finished by a
    smaller protocol in both); the one in ``cut`` interrupted after saving its group's first run, then
    repeated (which must end as `whole`). Returns ``(whole, again, saved, trained, backups)``: the results of both, the seed saved before the
    interruption, the groups the repetition trained and the group backups it found."""
    from ddc_tf.experiments import protocol

    data = small_vectors()
    cfg = config(steps=4, neighbors=3)
    for folder in ("whole", "cut") if earlier_runs else ():
        protocol.run_protocol(data, cfg, runs=earlier_runs, out_dir=tmp_path / folder, verbose=0)
    whole, _ = protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path / "whole", verbose=0, runs_at_once=3)
    finish, saved = protocol._finish_run, []

    def interrupted(*args, **kwargs):
        if saved:
            raise Interrupt("interrupted while saving the group's runs")
        saved.append(args[2])
        return finish(*args, **kwargs)

    monkeypatch.setattr(protocol, "_finish_run", interrupted)
    with pytest.raises(Interrupt):
        protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path / "cut", verbose=0, runs_at_once=3)
    monkeypatch.setattr(protocol, "_finish_run", finish)
    backups = sorted(p.name for p in (tmp_path / "cut").glob("backup_seeds_*"))
    trained = []
    monkeypatch.setattr(protocol, "train_runs", lambda *a, **k: trained.append(a[2]) or train_runs(*a, **k))
    again, _ = protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path / "cut", verbose=0, runs_at_once=3)
    assert [r["loss"] for r in again["runs"]] == [r["loss"] for r in whole["runs"]]
    assert not list((tmp_path / "cut").glob("backup_seeds_*"))
    return whole, again, saved, trained, backups


def test_a_group_interrupted_while_saving_its_runs_resumes_as_it_was_grouped(tmp_path, monkeypatch):
    """Interrupted after the group's last step, with one run saved and the others not: the
    rerun resumes the whole group from its backup (no step trained again) and saves the others
    exactly as an uninterrupted protocol does — not as runs trained anew in a smaller group."""
    whole, again, saved, trained, backups = _interrupted_while_saving_then_repeated(tmp_path, monkeypatch, 0)
    assert saved == [0] and backups == ["backup_seeds_0_1_2"]
    assert trained == [[0, 1, 2]]  # the group as it was, from its backup
    assert again["best"]["seed"] == whole["best"]["seed"]


@pytest.mark.slow  # a rarer timing of the test above (which the default run keeps): under 10 minutes in all
def test_a_group_of_the_runs_left_interrupted_while_saving_resumes_too(tmp_path, monkeypatch):
    """``--runs 1`` finished seed 0; ``--runs 3`` then trains seeds 1 and 2 as a group of two and is
    interrupted after saving seed 1. Repeated, it resumes that group (its backup names seeds 1 and 2,
    not the slice 0–2) instead of training seed 2 anew alone, and ends as the uninterrupted protocol."""
    _, _, saved, trained, backups = _interrupted_while_saving_then_repeated(tmp_path, monkeypatch, 1)
    assert saved == [1] and backups == ["backup_seeds_1_2"]
    assert trained == [[1, 2]]  # the group as it was, from its backup; seed 2 not trained anew alone


@pytest.mark.slow  # a damaged file: a rare path; the default run keeps under 10 minutes
def test_a_damaged_model_of_the_chosen_run_is_named_and_the_saved_model_kept(tmp_path):
    from ddc_tf.experiments import protocol

    data = small_vectors()
    cfg = config(steps=4, neighbors=3)
    results, _ = protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)
    saved = (tmp_path / "model.keras").read_bytes()
    chosen = tmp_path / "runs" / f"seed_{results['best']['seed']}"
    blob = (chosen / "model.keras").read_bytes()
    (chosen / "model.keras").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=rf"{re.escape(str(chosen / 'model.keras'))}: cannot be read .*delete the "
                                         rf"folder {re.escape(str(chosen))}"):
        protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)
    assert (tmp_path / "model.keras").read_bytes() == saved  # the exported model is untouched
    # a damaged record or cluster file of a run: named, with what to do
    (chosen / "model.keras").write_bytes(blob)
    other = tmp_path / "runs" / f"seed_{(results['best']['seed'] + 1) % 3}"
    record = (other / "run.json").read_text()
    for text, said in (("", r"run.json: cannot be read \(Expecting value"), ("[1]", "run.json: not a run record of ddc-tf")):
        (other / "run.json").write_text(text)
        with pytest.raises(ValueError, match=rf"{said}.*delete the folder {re.escape(str(other))} and repeat"):
            protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)
    (other / "run.json").write_text(record)
    np.save(other / "clusters.npy", np.zeros(5, np.int64))
    with pytest.raises(ValueError, match=r"clusters.npy: holds \(5,\) cluster ids for 120 points"):
        protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)


def test_a_protocol_folder_is_written_by_one_process_at_a_time(tmp_path):
    """A second writer (another `ddc-tf fit` with the same --out) is refused at once, naming the
    first; the folder is free again when the first is done, however it ended."""
    from ddc_tf import run_files
    from ddc_tf.experiments import protocol

    data, cfg = small_vectors(), config(steps=2)
    with run_files.writing_folder(tmp_path):
        with pytest.raises(OSError, match=rf"ddc-tf \(process {os.getpid()}\) is writing to this folder; wait for "
                                          r"it to finish, or use another output folder \(--out; out_dir= in Python\)"):
            protocol.run_protocol(data, cfg, runs=1, out_dir=tmp_path, verbose=0)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(Interrupt):
        protocol.run_protocol(data, cfg, runs=1, out_dir=tmp_path, verbose=0, callbacks_for=lambda s: [InterruptAfter(1)])
    results, _ = protocol.run_protocol(data, cfg, runs=1, out_dir=tmp_path, verbose=0)  # free again
    assert results["runs"][0]["seed"] == 0
    with pytest.warns(UserWarning, match=r"seed_0: a finished run, reused; the per-run callbacks .* no new curves"):
        protocol.run_protocol(data, cfg, runs=1, out_dir=tmp_path, verbose=0, callbacks_for=lambda s: [])


def test_a_fit_interrupted_while_replacing_its_outputs_leaves_no_results_file(tmp_path, monkeypatch):
    """results.json, written last, never describes outputs that were being replaced: an
    interrupted rerun (here during distillation, after model.keras was replaced by the chosen
    run's) leaves none, and repeating the command writes the same results as before."""
    from ddc_tf.experiments import protocol

    data, cfg = small_vectors(), config(steps=4, neighbors=3)
    first, _ = protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)

    def interrupted(*args, **kwargs):
        raise Interrupt("interrupted during distillation")

    monkeypatch.setattr(protocol, "distill", interrupted)
    with pytest.raises(Interrupt):
        protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)
    assert not (tmp_path / "results.json").exists()
    # what reads the folder's model says the fit has not finished, and how to finish it
    from ddc_tf import run_files
    from ddc_tf.serving.predict import load_predictor

    unfinished = r"has not finished \(no results.json\); its model.keras may be .* repeat that fit command"
    for read in (run_files.load_model, run_files.find_model_file, load_predictor):
        with pytest.raises(ValueError, match=unfinished):
            read(tmp_path)
    assert isinstance(run_files.load_model(tmp_path / "model.keras"), protocol.ClusteringModel)  # the file itself
    monkeypatch.undo()
    again, _ = protocol.run_protocol(data, cfg, runs=3, out_dir=tmp_path, verbose=0, distill_steps=2)
    assert json.loads((tmp_path / "results.json").read_text())["distilled"]["acc"] == first["distilled"]["acc"]
    assert again["best"] == first["best"]


def _pools_in_a_fresh_interpreter() -> list:
    """``[[applied, intra-op threads, inter-op threads, cores], …]`` after ``ops_side_by_side()`` in a
    new Python process (the thread pools can only be sized before TensorFlow's runtime starts):
    first with the user's ``TF_NUM_INTRAOP_THREADS=2`` set, then without it."""
    import subprocess
    import sys

    code = ("import json, os, tensorflow as tf\n"
            "from ddc_tf.experiments.grouped import available_cores, ops_side_by_side\n"
            "t = tf.config.threading\n"
            "def pools(applied):\n"
            "    return [applied, t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads(), "
            "available_cores()]\n"
            "os.environ['TF_NUM_INTRAOP_THREADS'] = '2'\n"
            "chosen = pools(ops_side_by_side())\n"
            "del os.environ['TF_NUM_INTRAOP_THREADS']\n"
            "print(json.dumps([chosen, pools(ops_side_by_side())]))\n")
    environment = {k: v for k, v in os.environ.items() if k not in THREAD_POOL_ENV}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_grouped_runs_size_the_thread_pools_one_thread_per_op():
    users_choice, ours = _pools_in_a_fresh_interpreter()
    assert users_choice[:3] == [False, 0, 0]  # the user's own choice stands
    applied, intra, inter, cores = ours  # then, the variable gone, the pools are ours to size
    assert applied and intra == 1 and inter == cores >= 1


def test_ops_side_by_side_leaves_a_started_runtime_alone():
    threading = tf.config.threading
    before = threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()
    tf.constant(1.0) + 1.0  # the runtime runs (conftest started it)
    assert not ops_side_by_side()
    assert (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == before
    assert size_pools_side_by_side() == RUNTIME_STARTED  # why, for the estimator's warning


def test_a_group_prints_one_short_line_per_chunk(clipped_group):
    """Keras' own line would list every metric of every run; the group's names the seeds, the
    step reached, the time per step and each run's loss. (A quiet group prints nothing:
    test_runs_trained_together_equal_the_runs_trained_alone.)"""
    _, loud, lines = clipped_group
    assert len(lines) == 10 and lines[-1].startswith("seeds 3, 4: step 10/10, ") and "ms/step; loss " in lines[-1]
    last = [float(v) for v in lines[-1].split("loss ")[1].split()]
    np.testing.assert_allclose(last, [h["loss"][-1] for _, h in loud], rtol=1e-4)


@pytest.mark.parametrize("seeds, message", [([1.7, 2.2], "seed must be an integer ≥ 0, got 1.7"),
                                             ([True, 2], "seed must be an integer ≥ 0, got True"),
                                             ([-1], "seed must be an integer ≥ 0, got -1"),
                                             ([2**32], "random seeds are 32-bit")])
def test_seeds_are_checked_as_a_single_run_checks_its_seed(seeds, message):
    from ddc_tf.experiments.grouped import train_runs
    from test_protocol import blobs, config

    with pytest.raises(ValueError, match=re.escape(message)):
        train_runs(blobs(), config(), seeds)


def test_the_last_runs_seed_must_fit_in_32_bits_before_any_run_trains():
    from ddc_tf.experiments.protocol import run_protocol
    from test_protocol import blobs, config

    with pytest.raises(ValueError, match=r"seed=4294967294 and the next 2 \(one per run\) must be at most 2\*\*32"):
        run_protocol(blobs(), config(), runs=3, seed=2**32 - 2)
