"""The Table 2 ablation: term subsets, repeats of the protocol, statistics, resume."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

import ddc_tf.experiments.protocol
from ddc_tf.experiments.ablation import SUBSETS, parse_subset, run_ablation, subset_name, subset_weights
from ddc_tf.data import ArrayData
from ddc_tf.experiments.training import TrainConfig


def blobs() -> ArrayData:
    rng = np.random.default_rng(3)
    y = np.arange(60) % 3
    x = rng.normal(scale=4.0, size=(3, 4))[y] + rng.normal(scale=0.5, size=(60, 4))
    return ArrayData(x=x.astype(np.float32), y=y.astype(np.int64), name="blobs", kind="vector",
                     raw_dtype="float32", scale=1.0)


def test_the_seven_subsets_in_the_papers_order():
    assert [subset_name(s) for s in SUBSETS] == ["l1", "l2", "l3", "l1+l2", "l1+l3", "l2+l3", "l1+l2+l3"]
    assert subset_weights(("l1", "l3")) == (1.0, 0.0, 1.0)
    assert parse_subset("l3+l1") == ("l1", "l3")
    assert parse_subset("l2,l3") == ("l2", "l3")
    for bad in ("", "l4", "l1+x"):
        with pytest.raises(ValueError, match="expected terms"):
            parse_subset(bad)


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablation")
    config = TrainConfig(n_clusters=3, backbone="mlp", steps=2, batch_size=30, learning_rate=1e-2, hidden_units=8)
    table = run_ablation(blobs(), config, subsets=[("l3",), ("l1", "l2", "l3")], repeats=2, runs=1,
                         seed=10, out_dir=out)
    return out, config, table


def test_table_statistics_are_over_each_repeats_lowest_loss_run(ablation):
    out, _, table = ablation
    assert table["kind"] == "ablation" and table["repeats"] == 2 and table["runs"] == 1
    assert [row["name"] for row in table["rows"]] == ["l3", "l1+l2+l3"]
    for row in table["rows"]:
        assert [r["seeds"] for r in row["repeats"]] == [[10], [11]]  # same seeds for every subset
        accs = [r["best"]["acc"] for r in row["repeats"]]
        assert row["acc_mean"] == pytest.approx(np.mean(accs))
        assert row["acc_std"] == pytest.approx(np.std(accs))
        assert row["acc_max"] == pytest.approx(max(accs))
        assert row["weights"] == list(subset_weights(row["terms"]))
    # each repeat is a protocol folder whose best run is its lowest-loss run
    results = json.loads((out / "l3" / "repeat_1" / "results.json").read_text())
    assert results["config"]["loss_weights"] == [0.0, 0.0, 1.0]
    assert results["best"]["loss"] == min(r["loss"] for r in results["runs"])
    assert json.loads((out / "ablation.json").read_text()) == table


def test_rerun_resumes_without_training(ablation, monkeypatch):
    out, config, table = ablation
    monkeypatch.setattr(ddc_tf.experiments.protocol, "train_run", lambda *a, **k: pytest.fail("trained again"))
    again = run_ablation(blobs(), config, subsets=[("l3",), ("l1", "l2", "l3")], repeats=2, runs=1,
                         seed=10, out_dir=out)
    assert again == table


def test_bad_arguments():
    config = TrainConfig(n_clusters=3, steps=1)
    with pytest.raises(ValueError, match="repeats"):
        run_ablation(blobs(), config, repeats=0)
    with pytest.raises(ValueError, match="expected terms"):
        run_ablation(blobs(), config, subsets=[("l5",)])


def test_the_ablation_command(tmp_path, capsys):
    from ddc_tf.cli import main

    out = tmp_path / "ablation"
    code = main(["ablation", "--data", "digits", "--backbone", "mlp", "--terms", "l3+l1",
                 "--repeats", "1", "--runs", "1", "--steps", "2", "--out", str(out), "--quiet"])
    assert code == 0
    table = json.loads((out / "ablation.json").read_text())
    assert [row["name"] for row in table["rows"]] == ["l1+l3"]
    assert table["rows"][0]["weights"] == [1.0, 0.0, 1.0]
    assert "| l1+l3 |" in capsys.readouterr().out
    assert main(["ablation", "--data", "digits", "--terms", "l4", "--out", str(out)]) == 2


def fake_protocol(data, config, *, runs, seed, **kwargs):
    """What run_ablation reads of a protocol's results, without training."""
    best = {"seed": seed, "loss": 0.5, "acc": 0.5, "nmi": 0.4}
    return {"runs": [{"seed": seed + i} for i in range(runs)], "best": best, "vote": None,
            "summary": {"acc_mean": 0.5}}, None


def test_another_call_with_other_subsets_adds_to_the_table(ablation, tmp_path, monkeypatch):
    """A second call on the same folder with other subsets keeps the first call's rows (same data,
    settings and seeds); other seeds replace the table, with a warning."""
    out, config, table = ablation
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ablation.json").write_text((out / "ablation.json").read_text())
    monkeypatch.setattr("ddc_tf.experiments.ablation.run_protocol", fake_protocol)
    more = run_ablation(blobs(), config, subsets=[("l1",)], repeats=2, runs=1, seed=10, out_dir=copy)
    assert [row["name"] for row in more["rows"]] == ["l3", "l1+l2+l3", "l1"]
    assert json.loads((copy / "ablation.json").read_text()) == more
    with pytest.warns(UserWarning, match="will be replaced"):
        other = run_ablation(blobs(), config, subsets=[("l1",)], repeats=2, runs=1, seed=20, out_dir=copy)
    assert [row["name"] for row in other["rows"]] == ["l1"]


def test_the_table_file_marks_the_folder_before_the_first_subset_is_done(tmp_path, monkeypatch):
    """So that ``ddc-tf table`` does not read an unfinished ablation's repeats as Table 1 rows."""
    seen = []

    def interrupted(*args, **kwargs):
        seen.append(json.loads((tmp_path / "ablation.json").read_text())["rows"])
        raise KeyboardInterrupt

    monkeypatch.setattr("ddc_tf.experiments.ablation.run_protocol", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(blobs(), TrainConfig(n_clusters=3, steps=1), subsets=[("l1",)], repeats=1, runs=1, out_dir=tmp_path)
    assert seen == [[]]
