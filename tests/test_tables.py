"""``ddc_tf.experiments.tables`` and ``ddc-tf table``: results JSON → the paper's Table 1 / Table 2."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ddc_tf.experiments.tables import collect_results, render_tables, table1_rows, write_tables


def protocol_results(data: str = "fashion_mnist", **extra) -> dict:
    runs = [{"seed": s, "loss": 0.7 - 0.01 * s, "acc": 0.5 + 0.05 * s, "nmi": 0.4 + 0.05 * s} for s in range(3)]
    return {
        "data": data, "n": 700, "clusters": 10, "steps": 4000, "config": {"loss_weights": [1.0, 1.0, 1.0]},
        "runs": runs, "best": runs[2], "vote": {"seeds": [2, 1, 0], "acc": 0.62, "nmi": 0.51},
        "summary": {"acc_mean": 0.55, "acc_std": 0.0408, "acc_max": 0.6,
                    "nmi_mean": 0.45, "nmi_std": 0.0408, "nmi_max": 0.5},
        "kmeans": {"acc": 0.47, "nmi": 0.51}, "kmeans_hidden": {"acc": 0.58, "nmi": 0.55, "ddc_seed": 2},
        **extra,
    }


def ablation_table(data: str = "mnist") -> dict:
    rows = []
    for name in ("l1", "l3", "l1+l2+l3"):
        rows.append({"terms": name.split("+"), "name": name, "weights": [1, 1, 1], "repeats": [],
                     "acc_mean": 0.8, "acc_std": 0.05, "acc_max": 0.875,
                     "nmi_mean": 0.7, "nmi_std": 0.01, "nmi_max": 0.72})
    return {"kind": "ablation", "data": data, "n": 70000, "clusters": 10, "steps": 3000, "runs": 20,
            "repeats": 5, "config": {}, "rows": rows}


def test_table1_has_the_papers_methods_in_order():
    rows = table1_rows([protocol_results(budget="cpu")])
    assert [r["method"] for r in rows] == [
        "K-means", "K-means on DDC hidden", "DDC", "DDC-VOTE", "DDC, all runs (mean ± std)"]
    ddc = rows[2]
    assert ddc["acc_percent"] == pytest.approx(60.0) and ddc["nmi"] == pytest.approx(0.5)
    assert ddc["budget"] == "cpu: 3 runs × 4000 steps"
    assert rows[4]["acc_std_percent"] == pytest.approx(4.08)
    assert all(r["paper_acc_percent"] is None for r in rows)  # Fashion-MNIST is not in the paper


def test_markdown_and_csv_with_the_papers_numbers_beside_mnist(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"machine": {}, "results": protocol_results("mnist")}))
    tables = render_tables([tmp_path / "a.json"])
    assert set(tables) == {"table1.md", "table1.csv"}
    md = tables["table1.md"]
    assert "| mnist | K-means | 0.510 | 47.00 |" in md
    assert "| | DDC | 0.500 | 60.00 | | 0.83 | 86.58 |" in md.replace("|  |", "| |")
    assert "55.00 ± 4.08" in md
    rows = list(csv.DictReader(io.StringIO(tables["table1.csv"])))
    vote = next(r for r in rows if r["method"] == "DDC-VOTE")
    assert float(vote["acc_percent"]) == pytest.approx(62.0) and float(vote["paper_acc_percent"]) == 88.49


def test_table2_from_an_ablation(tmp_path):
    (tmp_path / "ablation.json").write_text(json.dumps(ablation_table()))
    tables = render_tables([tmp_path])
    assert set(tables) == {"table2.md", "table2.csv"}
    md = tables["table2.md"]
    assert "| l1 | 80.0 ± 5.0 | 87.5 | 26.1 ± 2.9 | 31.5 |" in md
    assert "5 repeats × 20 runs × 3000 steps" in md
    rows = list(csv.DictReader(io.StringIO(tables["table2.csv"])))
    assert [r["cost"] for r in rows] == ["l1", "l3", "l1+l2+l3"]


def test_folders_skip_single_runs_and_ablation_internals_and_duplicates(tmp_path):
    fit = tmp_path / "fit"
    (fit / "runs" / "seed_0").mkdir(parents=True)
    (fit / "results.json").write_text(json.dumps(protocol_results()))
    (fit / "runs" / "seed_0" / "run.json").write_text(json.dumps(protocol_results("not-a-row")))
    ablation = tmp_path / "ablation"
    (ablation / "l1" / "repeat_0").mkdir(parents=True)
    (ablation / "ablation.json").write_text(json.dumps(ablation_table()))
    (ablation / "l1" / "repeat_0" / "results.json").write_text(json.dumps(protocol_results("inner")))
    (tmp_path / "copy.json").write_text(json.dumps({"results": protocol_results()}))  # same runs again
    found = collect_results([tmp_path])
    assert [p["data"] for p in found["protocol"]] == ["fashion_mnist"]
    assert len(found["ablation"]) == 1


def test_no_results_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="no results found"):
        render_tables([tmp_path])
    with pytest.raises(FileNotFoundError):
        render_tables([tmp_path / "missing"])


def test_write_tables_and_the_cli(tmp_path, capsys):
    from ddc_tf.cli import main

    (tmp_path / "results.json").write_text(json.dumps(protocol_results()))
    (tmp_path / "ablation.json").write_text(json.dumps(ablation_table("20news")))
    written = write_tables([tmp_path], tmp_path / "t")
    assert sorted(written) == ["table1.csv", "table1.md", "table2.csv", "table2.md"]
    assert main(["table", "--results", str(tmp_path / "results.json"), "--out", str(tmp_path / "t2")]) == 0
    assert "DDC-VOTE" in capsys.readouterr().out
    assert (tmp_path / "t2" / "table1.md").is_file() and not (tmp_path / "t2" / "table2.md").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_bytes(b"PK\x03\x04\xb5 a zip, not JSON")
    assert main(["table", "--results", str(tmp_path / "bad"), "--out", str(tmp_path / "t3")]) == 2
    assert "bad/results.json: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "t3").exists()  # no folder for no table
    (tmp_path / "notes.txt").write_text("a file")
    results = str(tmp_path / "results.json")
    assert main(["table", "--results", results, "--out", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt: a file, not a folder for the tables" in capsys.readouterr().err
    assert main(["table", "--results", results, "--out", str(tmp_path / "notes.txt" / "t")]) == 2
    assert capsys.readouterr().err.strip().endswith("notes.txt/t: Not a directory")  # an OSError, without [Errno 20]


def test_table1_budget_names_the_selector_and_the_vote():
    results = protocol_results(budget="cpu", selector="consensus")
    results["vote"]["seeds"] = [1, 2, 3, 4, 5]
    rows = table1_rows([results])
    assert rows[0]["budget"] == "cpu: 3 runs × 4000 steps, consensus pick, VOTE of 5"
    results["precision"] = "mixed_bfloat16"  # a float32 and a bf16 protocol are told apart
    assert table1_rows([results])[0]["budget"] == "cpu: 3 runs × 4000 steps, consensus pick, VOTE of 5, mixed_bfloat16"


def test_table1_lists_ensemble_and_distilled_when_present():
    rows = table1_rows([protocol_results(ensemble={"seeds": [0, 1, 2], "acc": 0.64, "nmi": 0.52},
                                         distilled={"seed": 2, "steps": 300, "acc": 0.65, "nmi": 0.53})])
    methods = [r["method"] for r in rows]
    assert methods.index("DDC-ENSEMBLE") + 1 == methods.index("DDC-DISTILLED")
    assert rows[methods.index("DDC-DISTILLED")]["acc_percent"] == pytest.approx(65.0)
    assert "DDC-DISTILLED" not in [r["method"] for r in table1_rows([protocol_results(distilled=None)])]


def test_table1_counts_refined_runs_apart():
    results = protocol_results(budget="cpu", selector="consensus")
    for run in results["runs"]:
        run["refined"] = False
    results["runs"].append({"seed": 3, "refined": True, "loss": 0.6, "acc": 0.7, "nmi": 0.6})
    rows = table1_rows([results])
    assert rows[0]["budget"] == "cpu: 3 runs × 4000 steps + 1 refined, consensus pick, VOTE of 3"
    results["refine"] = {"runs": 1, "start_steps": 300, "steps": 1000}
    assert table1_rows([results])[0]["budget"] == "cpu: 3 runs × 4000 steps + 1 refined × 1000, consensus pick, VOTE of 3"
    assert rows[0]["runs"] == 3
    spread = next(r for r in rows if r["method"].startswith("DDC, independent runs"))
    assert spread["acc_percent"] == pytest.approx(55.0)  # the summary: the independent runs


def test_sibling_methods_are_named_and_each_results_file_is_its_own_group(tmp_path):
    ot = protocol_results("mnist", config={"method": "ot", "loss_weights": [1.0, 1.0, 1.0]})
    rows = table1_rows([ot])
    assert [r["method"] for r in rows] == [
        "K-means", "K-means on OT hidden", "OT", "OT-VOTE", "OT, all runs (mean ± std)"]
    assert all(r["paper_acc_percent"] is None for r in rows[1:])  # the paper's numbers are DDC's
    assert rows[0]["paper_acc_percent"] is not None  # k-means: the paper's baseline
    other = json.loads(json.dumps(ot))  # a second OT protocol of the same data and budget
    for run in other["runs"]:
        run["seed"] += 10
    (tmp_path / "a.json").write_text(json.dumps(ot))
    (tmp_path / "b.json").write_text(json.dumps(other))
    md = render_tables([tmp_path / "a.json", tmp_path / "b.json"])["table1.md"]
    assert md.count("| mnist | K-means |") == 2  # each file starts its group with the data set's name


def test_two_ablations_of_one_data_set_keep_their_own_columns(tmp_path):
    """Grouped by results file: two ablations of mnist at the same budget (another learning rate)
    are two column groups, told apart in the header and the notes, as in the CSV."""
    first, second = ablation_table(), ablation_table()
    second["rows"] = [{**row, "acc_mean": 0.6} for row in second["rows"]]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "ablation.json").write_text(json.dumps(first))
    (tmp_path / "b" / "ablation.json").write_text(json.dumps(second))
    md = render_tables([tmp_path])["table2.md"]
    assert "mnist [1] mean ± std" in md and "mnist [2] mean ± std" in md
    assert "80.0 ± 5.0" in md and "60.0 ± 5.0" in md
    assert "ablation.json" in md.split("\n\n")[-1]  # the notes name each one's file


def test_a_table_the_results_no_longer_make_is_removed(tmp_path):
    (tmp_path / "ablation.json").write_text(json.dumps(ablation_table()))
    (tmp_path / "results.json").write_text(json.dumps(protocol_results()))
    out = tmp_path / "tables"
    write_tables([tmp_path / "ablation.json"], out)
    assert sorted(p.name for p in out.iterdir()) == ["table2.csv", "table2.md"]
    write_tables([tmp_path / "results.json"], out)
    assert sorted(p.name for p in out.iterdir()) == ["table1.csv", "table1.md"]


def test_a_folder_called_runs_is_read_and_an_unfinished_ablation_is_not(tmp_path):
    (tmp_path / "runs" / "digits").mkdir(parents=True)
    (tmp_path / "runs" / "digits" / "results.json").write_text(json.dumps(protocol_results("digits")))
    (tmp_path / "ablation-x" / "l1" / "repeat_0").mkdir(parents=True)
    (tmp_path / "ablation-x" / "ablation.json").write_text(json.dumps({**ablation_table(), "rows": []}))
    (tmp_path / "ablation-x" / "l1" / "repeat_0" / "results.json").write_text(json.dumps(protocol_results("mnist")))
    found = collect_results([tmp_path])
    assert [r["data"] for r in found["protocol"]] == ["digits"]
    assert set(render_tables([tmp_path])) == {"table1.md", "table1.csv"}  # no Table 2 without rows


def test_rows_trained_with_more_than_the_papers_loss_say_so_and_get_no_paper_numbers():
    rows = table1_rows([protocol_results("mnist", config={"loss_weights": [1, 1, 1], "neighbors": 5,
                                                          "balance_weight": 1.0})])
    ddc = next(r for r in rows if r["method"].startswith("DDC ("))
    assert ddc["method"] == "DDC (5 neighbours; balance term × 1)"
    assert ddc["paper_acc_percent"] is None
    ot = table1_rows([protocol_results("mnist", config={"method": "ot", "loss_weights": [1, 0, 0]})])
    assert any(r["method"] == "OT (DDC pre-training's weights 1, 0, 0)" for r in ot)
