"""The ``ddc-tf`` command line: ``fit`` end to end on digits, defaults, and error exits."""

from __future__ import annotations

import io
import csv
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from ddc_tf.cli import main

try:
    from tests.data_fixtures import write_image_folder
except ImportError:  # run from inside tests/
    from data_fixtures import write_image_folder


@pytest.fixture(scope="module")
def digits_fit(tmp_path_factory):
    """``ddc-tf fit`` on digits, 3 runs of 20 steps (and, by default, 3 refined runs): (exit code,
    out folder, stdout, stderr)."""
    out = tmp_path_factory.mktemp("cli") / "fit"
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(
            ["fit", "--data", "digits", "--steps", "20", "--runs", "3", "--out", str(out),
             "--quiet", "--backbone", "mlp"]
        )
    return code, out, stdout.getvalue(), stderr.getvalue()


def test_fit_on_digits_writes_results_json(digits_fit):
    code, out, _, _ = digits_fit
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"] == "digits"
    assert results["n"] == 1797
    assert results["clusters"] == 10  # --clusters defaults to the number of classes
    assert results["steps"] == 20
    # the 3 runs, then the default 3 refined runs that start from their ensemble
    assert [r["seed"] for r in results["runs"]] == [0, 1, 2, 3, 4, 5]
    assert [r["refined"] for r in results["runs"]] == [False] * 3 + [True] * 3
    assert results["ensemble"]["seeds"] == [0, 1, 2]
    assert results["refine"] == {"runs": 3, "start_steps": 300, "steps": 20}  # at most --steps
    assert (out / "refined" / "from_seeds_0-2_start300_steps20" / "runs" / "seed_3" / "model.keras").is_file()
    for record in [*results["runs"], results["best"]]:
        assert {"seed", "loss", "acc", "nmi"} <= set(record)
        assert np.isfinite(record["loss"])
        assert 0.0 <= record["acc"] <= 1.0 and 0.0 <= record["nmi"] <= 1.0
    # the default selector (consensus) picked it: the run agreeing most with the others
    assert results["selector"] == "consensus"
    consensus = {r["seed"]: r["consensus"] for r in results["runs"]}
    assert consensus[results["best"]["seed"]] == max(consensus.values())
    assert {"acc", "nmi"} <= set(results["vote"])
    assert 0.0 <= results["vote"]["acc"] <= 1.0 and 0.0 <= results["vote"]["nmi"] <= 1.0
    assert (out / "model.keras").is_file()


def test_fit_prints_a_results_table(digits_fit):
    _, out, stdout, _ = digits_fit
    results = json.loads((out / "results.json").read_text())
    assert "DDC (best)" in stdout and "DDC-VOTE" in stdout
    best = results["best"]
    best_line = next(line for line in stdout.splitlines() if line.startswith("DDC (best)"))
    assert f"{best['acc']:.4f}" in best_line and f"{best['nmi']:.4f}" in best_line
    vote_line = next(line for line in stdout.splitlines() if line.startswith("DDC-VOTE"))
    assert f"{results['vote']['acc']:.4f}" in vote_line
    for run in results["runs"]:  # one row per run
        assert any(line.split()[:1] == [str(run["seed"])] for line in stdout.splitlines())
    assert str(out / "results.json") in stdout
    # how the chosen run ranks by ACC among all runs (labels for the report only)
    rank = results["summary"]["chosen_acc_rank"]
    assert f"the chosen run is #{rank} of 6 runs by ACC" in stdout
    assert "← chosen (consensus)" in stdout
    ensemble_line = next(line for line in stdout.splitlines() if line.startswith("DDC-ENSEMBLE"))
    assert f"{results['ensemble']['acc']:.4f}" in ensemble_line and "the 3 independent runs" in ensemble_line
    assert any(line.startswith("3 refined") for line in stdout.splitlines())
    summary = results["summary"]  # the independent runs' spread; the refined runs' mean apart
    accs = [r["acc"] for r in results["runs"]]
    assert summary["acc_mean"] == pytest.approx(np.mean(accs[:3]))
    assert summary["refined_acc_mean"] == pytest.approx(np.mean(accs[3:]))
    assert any(line.startswith("indep. runs") for line in stdout.splitlines())
    assert any(line.startswith("refined runs") and f"{summary['refined_acc_mean']:.4f}" in line
               for line in stdout.splitlines())


def test_fit_clusters_option_and_default(tmp_path, capsys):
    code = main(
        ["fit", "--data", "circles", "--steps", "2", "--runs", "1", "--batch-size", "50",
         "--clusters", "3", "--out", str(tmp_path / "k3"), "--quiet"]
    )
    assert code == 0
    results = json.loads((tmp_path / "k3" / "results.json").read_text())
    assert results["clusters"] == 3
    assert results["vote"] is None  # one run: no DDC-VOTE
    capsys.readouterr()


def test_fit_without_labels_needs_clusters(tmp_path, capsys):
    path = tmp_path / "nolabels.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32))
    code = main(["fit", "--data", str(path), "--steps", "1", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2  # the same exit code as every other input error
    err = capsys.readouterr().err
    assert "--clusters" in err and str(path) in err
    one = tmp_path / "oneclass.npz"  # labels of one class cannot give k either
    np.savez(one, x=np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32), y=np.zeros(50, int))
    assert main(["fit", "--data", str(one), "--steps", "1", "--out", str(tmp_path / "o1"), "--quiet"]) == 2
    assert f"the labels of {one} hold one class, so they do not give the number of clusters; give it with " \
           "--clusters K" in capsys.readouterr().err


def test_kmeans_flags_without_labels_are_refused(tmp_path, capsys):
    path = tmp_path / "features.npy"
    np.save(path, np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32))
    for flags, named in ((["--kmeans"], "--kmeans score"), (["--kmeans", "--kmeans-hidden"], "--kmeans and --kmeans-hidden score")):
        assert main(["fit", "--data", str(path), "--clusters", "3", "--steps", "2", "--runs", "1",
                     "--out", str(tmp_path / "o"), "--quiet", *flags]) == 2
        assert f"{named} k-means++ against the labels, and {path} has none" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_fit_reads_a_npy_of_unlabeled_vectors(tmp_path, capsys):
    path = tmp_path / "features.npy"
    np.save(path, np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32))
    code = main(["fit", "--data", str(path), "--clusters", "3", "--steps", "4", "--runs", "1",
                 "--batch-size", "30", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["clusters"] == 3 and results["best"]["acc"] is None
    assert np.load(tmp_path / "o" / "best_clusters.npy").shape == (60,)


def test_fit_and_predict_read_a_csv_table_with_class_names(tmp_path, capsys):
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    classes = np.repeat(np.arange(3), 20)
    x = centres[classes] + rng.normal(scale=0.5, size=(60, 2))
    names = np.array(["cat", "dog", "eel"])[classes]
    path = tmp_path / "animals.csv"
    path.write_text("weight,height,y\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(x, names)))
    out = tmp_path / "o"
    code = main(["fit", "--data", str(path), "--steps", "4", "--runs", "1", "--batch-size", "30",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["clusters"] == 3 and results["n"] == 60  # the classes of the y column, counted
    assert 0.0 < results["best"]["acc"] <= 1.0
    assert main(["predict", "--model", str(out), "--data", str(path), "--out", str(tmp_path / "p.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npz")["cluster"], np.load(out / "best_clusters.npy"))
    assert json.loads((out / "data.json").read_text())["feature_names"] == ["weight", "height"]
    # a table with the columns swapped, or renamed, would be read as the wrong features: refused
    swapped, renamed, bare = tmp_path / "swapped.csv", tmp_path / "renamed.csv", tmp_path / "bare.csv"
    swapped.write_text("height,weight,y\n" + "".join(f"{b:.4f},{a:.4f},{c}\n" for (a, b), c in zip(x, names)))
    renamed.write_text("weight,length,y\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(x, names)))
    bare.write_text("".join(f"{a:.4f},{b:.4f}\n" for a, b in x))  # no header: nothing to check
    for table, said in ((swapped, "has the model's columns in another order (column 1 is 'height', not 'weight')"),
                        (renamed, "missing: 'height'; not trained on: 'length'")):
        assert main(["predict", "--model", str(out), "--data", str(table), "--out", str(tmp_path / "q.npz")]) == 2
        err = capsys.readouterr().err
        assert said in err and "trained on 'weight', 'height', in that order" in err, err
    assert main(["predict", "--model", str(out), "--data", str(bare), "--out", str(tmp_path / "q.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "q.npz")["cluster"], np.load(out / "best_clusters.npy"))
    path.write_text("weight,height,species\n1,2,cat\n")
    assert main(["fit", "--data", str(path), "--clusters", "2", "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "column 'species': 'cat' is not a number" in (err := capsys.readouterr().err)
    assert "name it as the labels (ddc-tf fit --labels NAME" in err


def test_labels_names_the_label_column_of_a_table_or_the_key_of_an_npz(tmp_path, capsys):
    """``--labels NAME``: a table's column of labels under any name (not a feature then) or an
    ``.npz``'s key; refused, by name, for a source that has neither."""
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(3), 20)
    x = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])[classes] + rng.normal(scale=0.5, size=(60, 2))
    table = tmp_path / "t.csv"
    table.write_text("weight,height,species_id\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(x, classes)))
    fit = ["fit", "--steps", "2", "--runs", "1", "--batch-size", "30", "--quiet"]
    assert main([*fit, "--data", str(table), "--labels", "species_id", "--out", str(tmp_path / "o")]) == 0, \
        capsys.readouterr().err
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["clusters"] == 3 and results["best"]["acc"] is not None  # the column's classes, scoring
    assert json.loads((tmp_path / "o" / "data.json").read_text())["feature_names"] == ["weight", "height"]
    # new tables are read as the training table was: the named column is no feature, with it or without it
    bare = tmp_path / "bare.csv"
    bare.write_text("weight,height\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, b in x))
    for new in (table, bare):
        assert main(["predict", "--model", str(tmp_path / "o"), "--data", str(new), "--out", str(tmp_path / "p.npz")]) \
            == 0, capsys.readouterr().err
        np.testing.assert_array_equal(np.load(tmp_path / "p.npz")["cluster"], np.load(tmp_path / "o" / "best_clusters.npy"))
    assert main([*fit, "--data", str(table), "--clusters", "3", "--out", str(tmp_path / "o2")]) == 0  # without it:
    assert json.loads((tmp_path / "o2" / "data.json").read_text())["feature_names"] == ["weight", "height", "species_id"]
    np.savez(tmp_path / "a.npz", x=x, y_root=classes)
    assert main([*fit, "--data", str(tmp_path / "a.npz"), "--labels", "y_root", "--out", str(tmp_path / "o3")]) == 0
    assert json.loads((tmp_path / "o3" / "results.json").read_text())["best"]["acc"] is not None
    capsys.readouterr()
    for data, labels, said in ((str(table), "kind", "no label column 'kind'"),
                               (str(tmp_path / "a.npz"), "kind", "no labels key 'kind'"),
                               (str(tmp_path / "a.npz"), "y", "--labels y: " + str(tmp_path / "a.npz") + " holds no labels"),
                               ("circles", "y", "--labels names the labels' column of a .csv/.tsv table or their "
                                               "key in an .npz; circles is neither")):
        assert main([*fit, "--data", data, "--labels", labels, "--out", str(tmp_path / "o4")]) == 2
        assert said in capsys.readouterr().err


def test_an_out_folder_that_cannot_be_made_is_refused_before_training(tmp_path, capsys, monkeypatch):
    import ddc_tf.experiments.protocol

    monkeypatch.setattr(ddc_tf.experiments.protocol, "run_protocol", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "out"
    for command in ("fit", "ablation"):
        assert main([command, "--data", "circles", "--steps", "2", "--runs", "1", "--out", str(out), "--quiet"]) == 2
        assert f"--out {out}: cannot create the folder" in capsys.readouterr().err


def test_missing_data_path_exits_2_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "data.npz"
    code = main(["fit", "--data", str(missing), "--steps", "1", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    captured = capsys.readouterr()
    assert str(missing) in captured.err
    assert not (tmp_path / "o" / "results.json").exists()


def test_unknown_data_set_name_exits_2_naming_it(tmp_path, capsys):
    code = main(["fit", "--data", "nosuchdataset", "--steps", "1", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nosuchdataset" in err
    assert "digits" in err  # lists the known names


def test_bad_option_values_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown backbone
        main(["fit", "--data", "digits", "--backbone", "resnet", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "resnet" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "argument --steps: must be ≥ 1, got 0"),
    (["--clusters", "1"], "argument --clusters: must be ≥ 2, got 1"),
    (["--clusters", "0"], "argument --clusters: must be ≥ 2, got 0"),
    (["--runs", "-4"], "argument --runs: must be ≥ 1, got -4"),
    (["--batch-size", "1"], "argument --batch-size: must be ≥ 2, got 1"),
    (["--seed", "-1"], "argument --seed: must be ≥ 0, got -1"),
    (["--lr", "-1"], "argument --lr: must be > 0"),
    (["--rel-sigma", "nan"], "argument --rel-sigma: must be a finite number"),
    (["--weights", "1", "-1", "1"], "argument --weights: must be ≥ 0"),
    (["--balance-weight", "-0.5"], "argument --balance-weight: must be ≥ 0"),
    (["--clipnorm", "0"], "argument --clipnorm: must be > 0"),
    (["--log-curves", "0"], "argument --log-curves: must be ≥ 1, got 0"),
    (["--log-curves", "--curve-subset", "0"], "argument --curve-subset: must be ≥ 1, got 0"),
])
def test_bad_numbers_are_argument_errors(flags, message, capsys):
    """Refused by the parser (exit 2, one line), before any data or TensorFlow is loaded."""
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--data", "digits", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_ablation_repeats_must_be_positive_at_parsing(capsys):
    with pytest.raises(SystemExit):
        main(["ablation", "--data", "digits", "--repeats", "0"])
    assert "argument --repeats" in capsys.readouterr().err


def test_plot_refuses_a_kernel_of_one_point_before_writing_figures(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "--model", str(tmp_path / "m"), "--data", "digits", "--out", str(tmp_path / "p"),
              "--kernel-points", "1"])
    assert exit_info.value.code == 2
    assert "argument --kernel-points: must be ≥ 2, got 1" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("flags, message", [
    (["--runs", "3", "--refine-runs", "1", "--vote-runs", "5"],
     "--vote-runs 5 votes over more runs than are trained (--runs 3 and 1 refined)"),
    (["--runs", "2", "--distill-steps", "10"], "--distill-steps fine-tunes on DDC-ENSEMBLE, which needs ≥ 3 runs"),
    (["--runs", "3", "--refine-runs", "0", "--refine-steps", "50"], "--refine-steps sets the refined runs, which are off"),
    (["--runs", "2", "--refine-run-steps", "50"], "--refine-run-steps sets the refined runs, which are off"),
    (["--curve-subset", "50"], "--curve-subset sets the points --log-curves evaluates"),
    (["--proportions", "free"], "--proportions free (no size constraint) is for --method ot"),
    (["--runs", "2", "--refine-runs", "2"], "--refine-runs start from DDC-ENSEMBLE, which needs ≥ 3 runs"),
    (["--runs", "2", "--selector", "ensemble"], "--selector ensemble ranks runs by their agreement with DDC-ENSEMBLE"),
    (["--epsilon", "0.1"], "--epsilon is OT's entropic regularisation: give --method ot too"),
    (["--method", "ot", "--kmeans-init", "5"], "--kmeans-init starts DDC runs; --method ot starts from DDC itself"),
    (["--pretrain-steps", "50"], "--pretrain-steps applies to --method ot/dcan"),
    (["--weights", "0", "0", "0"], "--weights 0 0 0 switches every term of DDC's loss off"),
    (["--runs", "3", "--runs-at-once", "4"], "--runs-at-once 4 trains more runs together than there are (--runs 3)"),
    (["--method", "ot", "--pretrain-steps", "0", "--weights", "1", "0", "0"],
     "--weights sets DDC's loss, which --method ot trains only in its DDC pre-training, off here"),
    (["--method", "dcan", "--pretrain-steps", "0", "--rel-sigma", "0.3"], "--rel-sigma sets DDC's loss"),
    (["--method", "ot", "--pretrain-steps", "0", "--sigma-mode", "paper"], "--sigma-mode sets DDC's loss"),
    (["--strategy", "mirrored", "--runs", "3", "--refine-runs", "2"],
     "--refine-runs runs on one device, not under --strategy mirrored"),
    (["--strategy", "mirrored", "--runs", "3", "--distill-steps", "20"], "--distill-steps runs on one device"),
    (["--strategy", "mirrored", "--kmeans-init", "5"], "--kmeans-init runs on one device"),
])
def test_flags_that_would_have_no_effect_are_refused(flags, message, tmp_path, capsys):
    assert main(["fit", "--data", "digits", "--steps", "2", "--out", str(tmp_path / "o"), "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was trained or written


@pytest.mark.parametrize("argv, usage", [(["fit", "--data", "digits", "--bogus"], "usage: ddc-tf fit"),
                                         (["presets", "extra"], "usage: ddc-tf presets")])
def test_an_unknown_argument_is_the_sub_commands_error(argv, usage, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and usage in err
    assert f"ddc-tf {argv[0]}: error: unrecognized arguments: {argv[-1]}" in err


def test_demo_steps_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--steps", "0"])
    assert exit_info.value.code == 2
    assert "argument --steps: must be ≥ 1, got 0" in capsys.readouterr().err
    from ddc_tf.experiments.demo import run_demo

    with pytest.raises(ValueError, match="steps=0"):
        run_demo(steps=0)


def test_console_script_help():
    script = Path(sys.executable).with_name("ddc-tf")
    command = str(script) if script.exists() else shutil.which("ddc-tf")
    assert command, "the ddc-tf console script is not installed (pip install -e .)"
    result = subprocess.run(
        [command, "--help"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    assert "fit" in result.stdout and "demo" in result.stdout
    assert result.stdout.lstrip().startswith("usage: ddc-tf")


def test_vote_runs_needs_two_runs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--data", "digits", "--vote-runs", "1"])
    assert exit_info.value.code == 2
    assert "--vote-runs: a vote needs at least 2 runs" in capsys.readouterr().err


# --------------------------------------------------------------------------- one error policy
def test_every_command_reports_os_errors_in_one_line(tmp_path, capsys):
    """An --out under a file is an OSError: one line naming the command, exit 2, no traceback."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["fit", "--data", "circles", "--steps", "2", "--runs", "1", "--out", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ddc-tf fit: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    from ddc_tf.cli import fit

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fit, "run", interrupted)
    assert main(["fit", "--data", "circles"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "ddc-tf fit: interrupted"


def test_results_table_pads_missing_metrics():
    """Data without labels has no ACC/NMI: the dash takes the column's width."""
    from ddc_tf.experiments.tables import format_results_table

    run = {"seed": 0, "loss": 0.7216, "acc": None, "nmi": None}
    results = {"data": "mine", "n": 10, "clusters": 2, "steps": 5, "runs": [run], "best": run}
    lines = format_results_table(results).splitlines()
    row = next(line for line in lines if line.startswith("0 "))
    assert row == f"{'0':<14}{0.7216:>10.4f}{'—':>9}{'—':>8}  ← chosen (loss)"
    assert "——" not in "\n".join(lines)


def test_results_table_reports_nearly_empty_clusters_and_the_balance_option():
    """The median independent run's clusters under 1 % of the points, from cluster_sizes
    (refined runs apart); the --balance-weight hint only for DDC's neighbour term without it."""
    from ddc_tf.experiments.tables import format_results_table, nearly_empty_note

    def run(seed, sizes, refined=False):
        return {"seed": seed, "loss": 0.5, "acc": None, "nmi": None, "cluster_sizes": sizes, "refined": refined}

    runs = [run(0, [500, 495, 5, 0]), run(1, [400, 300, 299, 1]), run(2, [250, 250, 250, 250]),
            run(3, [990, 4, 3, 3], refined=True)]  # medians over 0 / 1 / 2 (the refined run apart): 1
    results = {"data": "mine", "n": 1000, "clusters": 4, "steps": 5, "runs": runs, "best": runs[2],
               "config": {"n_clusters": 4, "neighbors": 5, "neighbor_weight": 1.0}}
    note = nearly_empty_note(results)
    assert note[0].strip() == "the independent runs leave a median 1 of 4 clusters with < 1 % of the points"
    assert "`ddc-tf fit --balance-weight 1`" in note[1] and "\n".join(note) in format_results_table(results)
    results["config"]["balance_weight"] = 1.0
    assert len(nearly_empty_note(results)) == 1  # the option is already on
    results["runs"] = [run(0, [500, 495, 5, 0]), run(2, [250, 250, 250, 250]), run(4, [260, 240, 250, 250])]
    assert nearly_empty_note(results) == []  # the median run fills every cluster
    assert nearly_empty_note({**results, "runs": [{"seed": 0, "loss": 0.5}]}) == []  # older results: no sizes


def test_results_table_says_when_kmeans_is_above_ddc():
    from ddc_tf.experiments.tables import format_results_table, kmeans_wins_note

    best = {"seed": 0, "loss": 0.5, "acc": 0.79, "nmi": 0.60}
    results = {"data": "iris", "n": 150, "clusters": 3, "steps": 5, "runs": [best], "best": best,
               "distilled": {"seed": 0, "steps": 300, "acc": 0.80, "nmi": 0.61}}
    note = kmeans_wins_note(results, {"acc": 0.83, "nmi": 0.66})
    assert len(note) == 1 and "Small tabular data" in note[0]
    assert note[0] in format_results_table(results, {"acc": 0.83, "nmi": 0.66})
    assert kmeans_wins_note(results, {"acc": 0.83, "nmi": 0.55}) == []  # above in ACC only
    assert kmeans_wins_note(results, {"acc": 0.70, "nmi": 0.70}) == []  # above in NMI only
    assert kmeans_wins_note({**results, "distilled": None}, {"acc": 0.795, "nmi": 0.605})  # the chosen run
    assert kmeans_wins_note({**results, "best": {**best, "acc": None}, "distilled": None},
                            {"acc": 0.83, "nmi": 0.66}) == []  # no labels


def test_cli_modules_import_each_other_statically():
    """No importlib, no cycle: each command module registers itself from ddc_tf.cli."""
    import ddc_tf.cli as cli

    parser = cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert commands == {"fit", "ablation", "table", "presets", "demo", "export", "predict", "plot"}
    source = Path(cli.__file__).read_text()
    assert "importlib" not in source


def test_neighbors_default_applies_with_the_mlp_and_for_ot_on_one_device():
    from ddc_tf.cli import build_parser
    from ddc_tf.cli.common import resolve_data_and_clusters
    from ddc_tf.cli.fit import neighbors
    from ddc_tf.options import DEFAULT_NEIGHBORS, SIBLING_NEIGHBORS

    parse = build_parser().parse_args
    assert neighbors(parse(["fit", "--data", "digits"]), "mlp", 1797) == DEFAULT_NEIGHBORS
    assert neighbors(parse(["fit", "--data", "fashion_mnist"]), "conv", 1797) == 0
    assert neighbors(parse(["fit", "--data", "fashion_mnist", "--neighbors", "10"]), "conv", 1797) == 10
    assert neighbors(parse(["fit", "--data", "digits", "--method", "ot"]), "mlp", 1797) == SIBLING_NEIGHBORS
    assert neighbors(parse(["fit", "--data", "digits", "--method", "dcan"]), "mlp", 1797) == SIBLING_NEIGHBORS
    assert neighbors(parse(["fit", "--data", "fashion_mnist", "--method", "ot"]), "conv", 1797) == SIBLING_NEIGHBORS
    assert neighbors(parse(["fit", "--data", "fashion_mnist", "--method", "dcan"]), "conv", 1797) == 0
    assert neighbors(parse(["fit", "--data", "digits", "--strategy", "mirrored"]), "mlp", 1797) == 0
    assert neighbors(parse(["fit", "--data", "digits", "--neighbors", "0"]), "mlp", 1797) == 0
    assert neighbors(parse(["fit", "--data", "tiny"]), "mlp", 6) == 5  # the default fits small data
    assert neighbors(parse(["fit", "--data", "digits", "--neighbors", "5", "--neighbor-weight", "0.5"]), "mlp", 1797) == 5
    with pytest.raises(ValueError, match="--neighbor-weight"):
        neighbors(parse(["fit", "--data", "digits", "--neighbors", "0", "--neighbor-weight", "2"]), "mlp", 1797)
    assert neighbors(parse(["fit", "--data", "digits", "--balance-weight", "0.5"]), "mlp", 1797) == DEFAULT_NEIGHBORS
    with pytest.raises(ValueError, match="--balance-weight"):
        neighbors(parse(["fit", "--data", "fashion_mnist", "--balance-weight", "0.5"]), "conv", 1797)
    paper = parse(["fit", "--preset", "mnist-paper", "--data", "digits"])
    resolve_data_and_clusters(paper)  # the -paper presets train the paper's loss
    assert neighbors(paper, "mlp", 1797) == 0
    cpu = parse(["fit", "--preset", "digits-cpu"])
    resolve_data_and_clusters(cpu)
    assert neighbors(cpu, "mlp", 1797) == DEFAULT_NEIGHBORS


def test_kmeans_init_is_off_unless_asked_for():
    from ddc_tf.cli import build_parser
    from ddc_tf.experiments.training import TrainConfig
    from ddc_tf.options import KMEANS_INIT_STEPS

    parse = build_parser().parse_args
    assert parse(["fit", "--data", "digits"]).kmeans_init == 0
    assert parse(["fit", "--data", "digits", "--kmeans-init"]).kmeans_init == KMEANS_INIT_STEPS
    assert parse(["fit", "--data", "digits", "--kmeans-init", "50"]).kmeans_init == 50
    with pytest.raises(SystemExit):
        parse(["fit", "--data", "digits", "--kmeans-init", "-1"])
    with pytest.raises(ValueError, match="kmeans_init applies to method 'ddc'"):
        TrainConfig(n_clusters=3, method="ot", kmeans_init=parse(["fit", "--kmeans-init"]).kmeans_init)


def test_pretrain_steps_default_to_a_ddc_backbone_for_the_siblings():
    from ddc_tf.cli import build_parser
    from ddc_tf.cli.fit import pretrain_steps
    from ddc_tf.options import DEFAULT_PRETRAIN_STEPS

    parse = build_parser().parse_args
    assert pretrain_steps(parse(["fit", "--data", "digits", "--method", "dcan"])) == DEFAULT_PRETRAIN_STEPS
    assert pretrain_steps(parse(["fit", "--data", "digits", "--method", "dcan", "--pretrain-steps", "0"])) is None
    assert pretrain_steps(parse(["fit", "--data", "digits", "--method", "ot"])) == DEFAULT_PRETRAIN_STEPS
    assert pretrain_steps(parse(["fit", "--data", "digits", "--method", "ot", "--pretrain-steps", "200"])) == 200
    assert pretrain_steps(parse(["fit", "--data", "digits", "--method", "ot", "--steps", "30"])) == 30  # at most the run
    assert pretrain_steps(parse(["fit", "--data", "digits"])) is None
    with pytest.raises(ValueError, match="--pretrain-steps applies to --method ot/dcan"):
        pretrain_steps(parse(["fit", "--data", "digits", "--pretrain-steps", "200"]))


def test_runs_at_once_defaults_to_a_group_on_one_device_without_per_run_callbacks():
    from ddc_tf.cli import build_parser
    from ddc_tf.cli.fit import runs_at_once
    from ddc_tf.options import DEFAULT_RUNS_AT_ONCE

    parse = build_parser().parse_args
    assert runs_at_once(parse(["fit", "--data", "digits", "--runs", "10"]), False) == DEFAULT_RUNS_AT_ONCE
    assert runs_at_once(parse(["fit", "--data", "digits", "--runs", "2"]), False) == 2
    assert runs_at_once(parse(["fit", "--data", "digits", "--runs", "10"]), True) == 1  # --tensorboard / --log-curves
    assert runs_at_once(parse(["fit", "--data", "digits", "--runs", "10", "--strategy", "mirrored"]), False) == 1
    assert runs_at_once(parse(["fit", "--data", "digits", "--runs", "10", "--runs-at-once", "1"]), False) == 1
    with pytest.raises(ValueError, match="--runs-at-once"):
        runs_at_once(parse(["fit", "--data", "digits", "--runs", "10", "--runs-at-once", "3"]), True)


def test_fit_sizes_the_thread_pools_for_runs_trained_together(tmp_path, monkeypatch):
    """``ddc-tf fit`` at its default ``--runs`` asks for one thread per op
    (``grouped.ops_side_by_side``) for its MLP groups (when it does not:
    ``test_only_mlp_groups_get_one_thread_per_op``)."""
    import ddc_tf.experiments.grouped as grouped
    import ddc_tf.experiments.protocol as protocol

    calls, protocols = [], []
    monkeypatch.setattr(grouped, "ops_side_by_side", lambda: calls.append(True) or True)

    def protocol_asked_for(data, config, **kwargs):  # what fit asks of the protocol; no training
        protocols.append(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(protocol, "run_protocol", protocol_asked_for)
    argv = ["fit", "--data", "circles", "--out", str(tmp_path), "--quiet"]  # --runs: its default
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main(argv) == 130
    assert calls == [True]
    assert [(p["runs"], p["runs_at_once"]) for p in protocols] == [(10, 4)]


def test_only_mlp_groups_get_one_thread_per_op():
    from ddc_tf.experiments.grouped import pools_side_by_side_pay

    assert pools_side_by_side_pay(4, "mlp")
    assert not pools_side_by_side_pay(1, "mlp")  # one run at a time: TensorFlow's pools
    assert not pools_side_by_side_pay(4, "conv")  # measured: no faster, other rounding


def test_precision_auto_is_bf16_for_the_ddc_cnn_on_a_cpu_with_bf16_arithmetic(monkeypatch):
    """``--mixed-precision auto`` (the default) resolves by the hardware: bf16 only for DDC's CNN on
    one device, without XLA, where the machine has bf16 arithmetic; a value given is kept; the
    -paper presets train in float32."""
    import ddc_tf.hardware as hardware
    from ddc_tf.cli import build_parser
    from ddc_tf.cli.common import apply_preset
    from ddc_tf.cli.fit import precision

    def resolved(argv: list[str], backbone: str) -> str:
        args = build_parser().parse_args(["fit", *argv])
        apply_preset(args)
        return precision(args, backbone)

    monkeypatch.setattr(hardware, "bf16_arithmetic", lambda: True)
    assert resolved(["--data", "fashion_mnist"], "conv") == "bfloat16"
    assert resolved(["--data", "fashion_mnist", "--mixed-precision", "float32"], "conv") == "float32"
    assert resolved(["--data", "digits"], "mlp") == "float32"
    assert resolved(["--data", "digits", "--mixed-precision", "bfloat16"], "mlp") == "bfloat16"
    for others in (["--method", "ot"], ["--method", "dcan"], ["--jit"], ["--strategy", "mirrored"]):
        assert resolved(["--data", "fashion_mnist", *others], "conv") == "float32", others
    assert resolved(["--preset", "fashion-mnist-paper"], "conv") == "float32"
    assert resolved(["--preset", "fashion-mnist-paper", "--mixed-precision", "auto"], "conv") == "bfloat16"
    assert resolved(["--preset", "fashion-mnist-cpu"], "conv") == "bfloat16"
    monkeypatch.setattr(hardware, "bf16_arithmetic", lambda: False)
    assert resolved(["--data", "fashion_mnist"], "conv") == "float32"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--data", "digits", "--mixed-precision", "float64"])


def test_bf16_arithmetic_needs_amx_onednn_and_no_gpu(tmp_path, monkeypatch):
    import ddc_tf.hardware as hardware

    def cpuinfo(flags: str) -> Path:
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nmodel name\t: some CPU\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\n")
        return path

    assert hardware.cpu_has_amx_bf16(cpuinfo("avx512f amx_tile amx_bf16"))
    assert not hardware.cpu_has_amx_bf16(cpuinfo("avx512f avx512_bf16 avx512_vnni"))  # not measured: float32
    assert not hardware.cpu_has_amx_bf16(cpuinfo("amx_bf16x"))  # whole flags only
    assert not hardware.cpu_has_amx_bf16(tmp_path / "missing")  # macOS, Windows
    for value, on in (("0", False), ("false", False), ("1", True)):
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
        assert hardware.onednn_enabled() is on
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert hardware.onednn_enabled()
    monkeypatch.setattr(hardware, "cpu_has_amx_bf16", lambda: True)
    monkeypatch.setattr(hardware, "gpu_visible", lambda: False)
    assert hardware.bf16_arithmetic()
    monkeypatch.setattr(hardware, "gpu_visible", lambda: True)
    assert not hardware.bf16_arithmetic()


@pytest.mark.parametrize("asked, policy", [("auto", "mixed_bfloat16"), ("float32", "float32")])
def test_fit_trains_and_records_the_precision_it_resolved(tmp_path, monkeypatch, asked, policy):
    """On a CPU with bf16 arithmetic (here pretended) ``ddc-tf fit`` trains an image data set's CNN
    in mixed_bfloat16 and says so in the table and ``results.json``; ``float32`` keeps full precision."""
    import ddc_tf.hardware as hardware

    monkeypatch.setattr(hardware, "bf16_arithmetic", lambda: True)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), y=np.arange(40) % 2)
    argv = ["fit", "--data", str(tmp_path / "images.npz"), "--steps", "2", "--batch-size", "20", "--runs", "1",
            "--mixed-precision", asked, "--out", str(tmp_path / "out"), "--quiet"]
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(argv) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["backbone"] == "auto" and results["precision"] == policy
    assert (f"precision={policy}" in out.getvalue()) is (policy != "float32")
    import keras

    keras.mixed_precision.set_global_policy("float32")  # the saved model carries its own policy
    assert keras.models.load_model(tmp_path / "out" / "model.keras").dtype_policy.name == policy
    # the model serves: exported, its SavedModel gives float32 probabilities and the .keras model's clusters
    with redirect_stdout(io.StringIO()):
        assert main(["export", "--model", str(tmp_path / "out"), "--name", "m", "--base-dir", str(tmp_path / "exp")]) == 0
        for source, name in ((tmp_path / "out" / "model.keras", "keras.npz"), (tmp_path / "exp" / "m", "served.npz")):
            assert main(["predict", "--model", str(source), "--data", str(tmp_path / "images.npz"),
                         "--out", str(tmp_path / name)]) == 0
    kept, served = np.load(tmp_path / "keras.npz"), np.load(tmp_path / "served.npz")
    assert served["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(served["cluster"], kept["cluster"])


def test_distill_steps_default_applies_on_one_device():
    import ddc_tf.cli as cli
    from ddc_tf.cli.fit import distill_steps
    from ddc_tf.options import DEFAULT_DISTILL_STEPS

    parse = cli.build_parser().parse_args
    assert distill_steps(parse(["fit", "--data", "digits"])) == DEFAULT_DISTILL_STEPS
    assert distill_steps(parse(["fit", "--data", "digits", "--method", "ot"])) == DEFAULT_DISTILL_STEPS
    assert distill_steps(parse(["fit", "--data", "digits", "--strategy", "mirrored"])) == 0
    assert distill_steps(parse(["fit", "--data", "digits", "--distill-steps", "0"])) == 0
    assert distill_steps(parse(["fit", "--data", "digits", "--method", "dcan", "--distill-steps", "50"])) == 50
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit):
        parse(["fit", "--data", "digits", "--distill-steps", "-3"])
    assert "--distill-steps: must be ≥ 0, got -3" in err.getvalue()


# --------------------------------------------------------------------------- what a new user meets
def test_default_out_is_one_folder_per_data_set(tmp_path, monkeypatch):
    from ddc_tf.cli.common import default_out

    assert default_out("digits") == Path("outputs/digits")
    assert default_out("/data/mine.npz") == Path("outputs/mine")
    assert default_out("photos/", method="ot") == Path("outputs/photos-ot")
    assert default_out("digits", prefix="ablation-") == Path("outputs/ablation-digits")
    assert default_out("t/iris.csv") == default_out("iris.csv.gz") == default_out("x/iris.TSV") == Path("outputs/iris")
    assert default_out("train-images-idx3-ubyte.gz") == Path("outputs/train-images-idx3-ubyte")
    (tmp_path / "photos" / "cats").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "photos" / "cats")
    assert default_out("..") == Path("outputs/photos") and default_out(".") == Path("outputs/cats")
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "mine.npz", x=np.random.default_rng(0).normal(size=(120, 2)).astype(np.float32))
    for data in ("circles", str(tmp_path / "mine.npz")):  # the second fit is not refused
        assert main(["fit", "--data", data, "--clusters", "2", "--steps", "2", "--runs", "1", "--quiet"]) == 0
    assert (tmp_path / "outputs" / "circles" / "results.json").is_file()
    assert (tmp_path / "outputs" / "mine" / "results.json").is_file()


def test_an_out_folder_inside_the_image_folder_is_refused_before_training(tmp_path, monkeypatch, capsys):
    """Outputs written into an image folder would be read as a class (or stray files) next
    time: `fit` and `ablation` refuse such an --out, given or default, before TensorFlow loads."""
    write_image_folder(tmp_path / "photos" / "a", 2, size=(8, 8))
    write_image_folder(tmp_path / "photos" / "b", 2, size=(8, 8), seed=1)
    monkeypatch.chdir(tmp_path / "photos")
    for argv, said in ((["fit", "--data", "."], "the default --out, outputs/photos,"),
                       (["fit", "--data", str(tmp_path / "photos"), "--out", "a/run"], "--out a/run"),
                       (["ablation", "--data", "."], "the default --out, outputs/ablation-photos,")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{said} is inside the data folder" in err, err
    assert main(["plot", "--model", str(tmp_path / "m"), "--data", ".", "--out", "figs"]) == 2  # plot too
    assert "--out figs is inside the data folder" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (tmp_path / "photos" / "a").iterdir()) == ["img_0000.png", "img_0001.png"]


def test_a_data_folder_without_images_is_refused_for_that(tmp_path, monkeypatch, capsys):
    """`--data .` in a folder of other files: the error is that it holds no images, not that
    the default --out would be inside it (nothing would read the outputs as images)."""
    (tmp_path / "mine").mkdir()
    np.savez(tmp_path / "mine" / "xy.npz", x=np.zeros((4, 2)))
    monkeypatch.chdir(tmp_path / "mine")
    assert main(["fit", "--data", ".", "--clusters", "2", "--steps", "2", "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "no image files" in err and "inside the data folder" not in err, err


def test_image_folder_flags_reach_the_loader(tmp_path, capsys):
    write_image_folder(tmp_path / "photos" / "a", 4, size=(16, 16))
    write_image_folder(tmp_path / "photos" / "b", 4, size=(18, 16), seed=1)
    argv = ["fit", "--data", str(tmp_path / "photos"), "--steps", "2", "--runs", "1", "--batch-size", "4",
            "--backbone", "mlp", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    assert "--image-size H W" in capsys.readouterr().err
    assert main([*argv, "--image-size", "12", "10", "--color", "grayscale"]) == 0
    data = json.loads((tmp_path / "out" / "data.json").read_text())
    assert data["input_shape"] == [12, 10, 1]
    assert main(["fit", "--data", "digits", "--image-size", "8", "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "--image-size: only for image folders" in capsys.readouterr().err


def test_predict_plot_and_export_read_an_image_folder_as_training_did(tmp_path, capsys):
    """The image options of ``fit`` are recorded in data.json and reused for the same kind of
    source; explicit flags override them; a SavedModel carries them in its metadata."""
    photos = tmp_path / "photos"
    write_image_folder(photos / "a", 4, size=(16, 16))
    write_image_folder(photos / "b", 4, size=(18, 16), seed=1)  # two sizes: --image-size needed
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(photos), "--image-size", "12", "10", "--color", "grayscale", "--steps", "2",
                 "--runs", "1", "--batch-size", "4", "--backbone", "mlp", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "data.json").read_text())["load_options"] == {"image_size": [12, 10], "color": "grayscale"}
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--data", str(photos), "--out", str(tmp_path / "p.npz")]) == 0
    assert np.load(tmp_path / "p.npz")["cluster"].shape == (8,)
    # every prediction names its image file (the folder's order: by class, then name)
    files = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.png"))
    assert np.load(tmp_path / "p.npz")["path"].tolist() == files
    assert main(["predict", "--model", str(out), "--data", str(photos), "--out", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["index", "path", "cluster"] and [r[1] for r in rows[1:]] == files
    np.testing.assert_array_equal([int(r[2]) for r in rows[1:]], np.load(tmp_path / "p.npz")["cluster"])
    # a flag given replaces its recorded value only (the colour stays grayscale)
    assert main(["predict", "--model", str(out), "--data", str(photos), "--image-size", "12", "10",
                 "--out", str(tmp_path / "p1.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p1.npz")["cluster"], np.load(tmp_path / "p.npz")["cluster"])
    assert main(["predict", "--model", str(out), "--data", str(photos), "--color", "rgb",
                 "--out", str(tmp_path / "p2.npz")]) == 2
    assert "expected shape (n, 12, 10, 1), got (8, 12, 10, 3)" in capsys.readouterr().err
    np.save(tmp_path / "raw.npy", np.zeros((2, 12, 10, 1), np.uint8))  # raw serving inputs take no image flags
    assert main(["predict", "--model", str(out), "--data", str(tmp_path / "raw.npy"), "--color", "rgb",
                 "--out", str(tmp_path / "p4.npz")]) == 2
    assert "--color: only for image folders" in capsys.readouterr().err
    assert main(["predict", "--model", str(out), "--data", str(tmp_path / "raw.npy"), "--out", str(tmp_path / "p4.npz")]) == 0
    assert main(["plot", "--model", str(out), "--data", str(photos), "--out", str(tmp_path / "figs")]) == 0
    capsys.readouterr()
    assert main(["export", "--model", str(out), "--data", str(photos), "--name", "photos",
                 "--base-dir", str(tmp_path / "served")]) == 0
    assert main(["predict", "--model", str(tmp_path / "served" / "photos"), "--data", str(photos),
                 "--out", str(tmp_path / "p3.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p3.npz")["cluster"], np.load(tmp_path / "p.npz")["cluster"])
    assert main(["export", "--model", str(out), "--image-size", "12", "--name", "x",
                 "--base-dir", str(tmp_path / "served")]) == 2
    assert "--image-size set(s) how --data is read; give --data too" in capsys.readouterr().err


def test_fit_skips_unreadable_images_when_asked(tmp_path, capsys):
    write_image_folder(tmp_path / "photos" / "a", 4, size=(16, 16))
    write_image_folder(tmp_path / "photos" / "b", 4, size=(16, 16), seed=1)
    (tmp_path / "photos" / "b" / "broken.png").write_bytes(b"not an image")
    argv = ["fit", "--data", str(tmp_path / "photos"), "--steps", "2", "--runs", "1", "--batch-size", "4",
            "--backbone", "mlp", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    assert "--skip-unreadable" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        assert main([*argv, "--skip-unreadable"]) == 0
    assert json.loads((tmp_path / "out" / "data.json").read_text())["n"] == 8
    assert main(["fit", "--data", "digits", "--skip-unreadable", "--out", str(tmp_path / "o2"), "--quiet"]) == 2
    assert "--skip-unreadable: only for image folders" in capsys.readouterr().err

    # predict, plot and export read the folder only as told: the broken image stops them, the flag skips it
    model = str(tmp_path / "out")
    commands = {
        "predict": ["predict", "--model", model, "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "p.csv")],
        "plot": ["plot", "--model", model, "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "figs")],
        "export": ["export", "--model", model, "--name", "photos", "--base-dir", str(tmp_path / "sm"),
                   "--data", str(tmp_path / "photos")],
    }
    for name, command in commands.items():
        assert main(command) == 2, name
        assert "--skip-unreadable" in capsys.readouterr().err
        with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
            assert main([*command, "--skip-unreadable"]) == 0, name
        capsys.readouterr()
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 1 + 8  # a header and the 8 readable images


def test_warnings_are_one_line_without_the_library_source(tmp_path):
    write_image_folder(tmp_path / "photos" / "a", 4, size=(16, 16))
    (tmp_path / "photos" / "a" / "broken.png").write_bytes(b"not an image")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "ddc_tf.cli", "fit", "--data", str(tmp_path / "photos"), "--clusters", "2",
         "--skip-unreadable", "--steps", "2", "--runs", "1", "--batch-size", "2", "--backbone", "mlp",
         "--out", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "unreadable" in line]
    assert len(lines) == 1 and lines[0].startswith("ddc-tf fit: warning: ") and lines[0].endswith("(UserWarning)"), \
        result.stderr
    assert "return loader(" not in result.stderr


def test_ablation_needs_labels(tmp_path, capsys):
    np.savez(tmp_path / "nolabels.npz", x=np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32))
    assert main(["ablation", "--data", str(tmp_path / "nolabels.npz"), "--clusters", "2", "--steps", "2",
                 "--out", str(tmp_path / "o")]) == 2
    assert "has no labels: the ablation table compares" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_piped_output_gets_plain_progress_lines(monkeypatch):
    import argparse

    from ddc_tf.cli.common import keras_verbosity

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert keras_verbosity(argparse.Namespace(quiet=False)) == 2
    assert keras_verbosity(argparse.Namespace(quiet=True)) == 0
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert keras_verbosity(argparse.Namespace(quiet=False)) == "auto"


def test_plot_reports_a_shape_mismatch_in_one_line(tmp_path, capsys):
    np.savez(tmp_path / "five.npz", x=np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32))
    np.savez(tmp_path / "three.npz", x=np.random.default_rng(1).normal(size=(40, 3)).astype(np.float32))
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(tmp_path / "five.npz"), "--clusters", "2", "--steps", "2", "--runs", "1",
                 "--batch-size", "10", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", "--model", str(out), "--data", str(tmp_path / "three.npz"), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "\x1b" not in err, err
    assert "inputs of shape (3,) (model expects (5,))" in err


def test_too_few_points_for_a_batch_names_the_flags(tmp_path, capsys):
    np.savez(tmp_path / "few.npz", x=np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32))
    argv = ["fit", "--data", str(tmp_path / "few.npz"), "--clusters", "2", "--steps", "2", "--runs", "1",
            "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--batch-size" in err and "--keep-partial-batches" in err
    assert main([*argv, "--keep-partial-batches"]) == 0


def test_every_command_has_help_text():
    import ddc_tf.cli as cli

    choices = cli.build_parser()._subparsers._group_actions[0].choices
    for name, sub in choices.items():
        assert sub.description, f"`ddc-tf {name} --help` has no description"


@pytest.mark.slow
def test_tensorflow_start_up_notices_are_filtered_and_real_warnings_kept():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "DDC_TF_TF_LOGS")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    code = "import ddc_tf, warnings, tensorflow as tf; tf.zeros(1) + 1; warnings.warn('a real warning')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "a real warning" in result.stderr
    for noise in ("oneDNN", "cuda", "cuInit", "absl::InitializeLog", "cpu_feature_guard"):
        assert noise not in result.stderr, result.stderr


def test_the_command_line_parses_before_importing_tensorflow():
    """As the ``ddc-tf`` script (argv[0]), building the parser and --help import no TensorFlow."""
    code = ("import sys; sys.argv[0] = 'ddc-tf'; import ddc_tf.cli as cli; cli.build_parser().format_help(); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("flags, message", [
    (["--data", "digits", "--curve-subset", "5"], "--curve-subset sets the points --log-curves evaluates"),
    (["--preset", "digits-cpu", "--vote-runs", "30"], "--vote-runs 30 votes over more runs than are trained"),
    (["--data", "digits", "--epsilon", "0.1"], "--epsilon is OT's entropic regularisation"),
    (["--data", "no_such_file.npz"], "no_such_file.npz: no such file or folder"),
    (["--data", "no/such/folder"], "no/such/folder: no such file or folder"),
    (["--data", "digits", "--method", "ot", "--balance-weight", "1"],
     "--balance-weight weighs DDC's balance term (beside its neighbour term): --method ddc only"),
    (["--data", "digits", "--proportions", "abc"], "--proportions 'abc': expected numbers such as 0.5,0.3,0.2"),
    (["--data", "digits", "--proportions", "0.5,-1,0.5"], "--proportions '0.5,-1,0.5': every share must be a positive"),
    (["--data", "digits", "--clusters", "3", "--proportions", "0.5,0.5"],
     "--proportions '0.5,0.5' gives 2 shares for --clusters 3; give one share per cluster"),
])
def test_flags_that_cannot_go_together_are_refused_before_importing_tensorflow(flags, message):
    """``fit``'s refused combinations (with a preset filled in) answer as argument errors do."""
    code = ("import sys; sys.argv[0] = 'ddc-tf'; import ddc_tf.cli as cli; "
            f"code = cli.main(['fit', *{flags!r}]); "
            "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("module", ["ddc_tf.cli", "ddc_tf"])
def test_python_m_parses_before_importing_tensorflow(module):
    """``python -m ddc_tf.cli --help`` (and ``-m ddc_tf``) print the help without importing
    TensorFlow (``-X importtime`` lists every module imported)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", module, "--help"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: ddc-tf" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "ddc_tf.cli" in imported and "tensorflow" not in imported and "keras" not in imported


def test_option_vocabularies_match_the_code():
    from ddc_tf import options
    from ddc_tf.models import METHODS

    assert tuple(METHODS) == options.METHOD_NAMES


def test_refine_runs_default_to_three_for_ddc_with_an_ensemble_on_one_device():
    from ddc_tf.cli import build_parser
    from ddc_tf.cli.fit import refine_runs
    from ddc_tf.options import DEFAULT_REFINE_RUNS

    parse = build_parser().parse_args
    assert DEFAULT_REFINE_RUNS == 3
    assert refine_runs(parse(["fit", "--data", "digits", "--runs", "10"])) == 3
    assert refine_runs(parse(["fit", "--data", "digits", "--runs", "2"])) == 0  # no ensemble to start from
    assert refine_runs(parse(["fit", "--data", "digits", "--runs", "10", "--method", "ot"])) == 0
    assert refine_runs(parse(["fit", "--data", "digits", "--runs", "10", "--strategy", "mirrored"])) == 0
    assert refine_runs(parse(["fit", "--data", "digits", "--refine-runs", "5"])) == 5
    assert refine_runs(parse(["fit", "--data", "digits", "--refine-runs", "0"])) == 0
