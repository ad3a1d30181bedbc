"""Prediction on new data: SavedModel and .keras predictors, streamed sources, output files,
clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.sparse

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from data_fixtures import write_mnist_folder  # noqa: E402

from ddc_tf.cli import main as cli_main  # noqa: E402
from ddc_tf.data import ArrayData, load_arrays  # noqa: E402
from ddc_tf.serving.export import InputSpec, export_model  # noqa: E402
from ddc_tf.models import DDC  # noqa: E402
from ddc_tf.serving.predict import (  # noqa: E402
    check_raw_inputs,
    load_predictor,
    open_data,
    predict,
    predict_to_file,
)
from ddc_tf.experiments.protocol import describe_data  # noqa: E402

SHAPE = (16, 16)


def tiny_model(backbone: str, input_shape: tuple[int, ...], k: int = 3, seed: int = 0) -> DDC:
    """An untrained DDC with non-default batch-norm statistics."""
    keras.utils.set_random_seed(seed)
    model = DDC(n_clusters=k, backbone=backbone, hidden_units=8)
    model.build((None, *input_shape))
    bn = model.hidden_layer.get_layer("batch_norm")
    rng = np.random.default_rng(seed)
    bn.moving_mean.assign(rng.normal(size=8).astype(np.float32))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=8).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """uint8 images in an .npz, a conv model trained on "them" saved as a ``ddc-tf fit``
    folder (model.keras + data.json), and its SavedModel export."""
    root = tmp_path_factory.mktemp("predict")
    raw = np.random.default_rng(0).integers(0, 256, size=(23, *SHAPE), dtype=np.uint8)
    np.savez_compressed(root / "images.npz", x=raw)
    data = load_arrays(root / "images.npz")
    model = tiny_model("conv", data.input_shape)
    fit = root / "fit"
    fit.mkdir()
    model.save(fit / "model.keras")
    (fit / "data.json").write_text(json.dumps(describe_data(data)))
    saved = export_model(model, "imgs", spec=InputSpec(data.input_shape, "uint8", 1 / 255), base_dir=root / "served")
    expected = model.predict(data.x, verbose=0)
    return {"root": root, "raw": raw, "data": data, "model": model, "fit": fit, "saved": saved, "expected": expected}


def _check(result, expected):
    np.testing.assert_allclose(result["probabilities"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result["cluster"], expected.argmax(axis=1))
    assert result["cluster"].dtype == np.int64 and result["probabilities"].dtype == np.float32


def test_saved_model_and_keras_predictors_agree_with_model_predict(images):
    npz = images["root"] / "images.npz"
    for model_path in (images["saved"], images["saved"].parent, images["fit"], images["fit"] / "model.keras"):
        predictor = load_predictor(model_path, batch_size=5)  # 23 rows → 5 batches
        assert predictor.input_shape == (16, 16, 1) and predictor.n_clusters == 3
        assert predictor.raw_dtype == "uint8" and predictor.scale == pytest.approx(1 / 255)
        _check(predict(predictor, npz), images["expected"])
        # raw uint8 inputs, as a serving client sends them
        _check(predictor.predict_raw(images["raw"][..., None]), images["expected"])
    assert load_predictor(images["saved"].parent).path == images["saved"]  # highest version
    hidden = predict(images["saved"], npz, hidden=True)["hidden"]
    np.testing.assert_allclose(hidden, images["model"].embed(images["data"].x).numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("compressed", [True, False])
def test_npz_is_streamed_in_batches(tmp_path, compressed):
    raw = np.random.default_rng(1).integers(0, 256, size=(13, 6, 6), dtype=np.uint8)
    (np.savez_compressed if compressed else np.savez)(tmp_path / "a.npz", x=raw, y=np.arange(13))
    stream = open_data(tmp_path / "a.npz", batch_size=4)
    assert stream.n == 13 and not stream.raw
    batches = list(stream.batches)
    assert [len(b) for b in batches] == [4, 4, 4, 1]
    np.testing.assert_array_equal(np.concatenate(batches), load_arrays(tmp_path / "a.npz").x)


def test_npy_idx_and_npz_sources_give_the_same_predictions(images, tmp_path):
    raw = images["raw"]
    np.save(tmp_path / "raw.npy", raw[..., None])  # raw serving inputs
    np.save(tmp_path / "raw_hw.npy", raw)  # (n, h, w): the channel axis is added, as for training data
    write_folder = tmp_path / "idx"
    x_idx, _ = write_mnist_folder(write_folder, n_train=15, n_test=8, shape=SHAPE)
    model = images["model"]
    expected_idx = model.predict(x_idx[..., None].astype(np.float32) * np.float32(1 / 255), verbose=0)
    for model_path in (images["saved"], images["fit"]):
        _check(predict(model_path, tmp_path / "raw.npy", batch_size=7), images["expected"])
        _check(predict(model_path, tmp_path / "raw_hw.npy", batch_size=7), images["expected"])
        stream = open_data(write_folder, batch_size=10)
        assert stream.n == 23 and [len(b) for b in stream.batches] == [10, 5, 8]  # train, then t10k
        _check(predict(model_path, write_folder, batch_size=10), expected_idx)
        _check(predict(model_path, next(write_folder.glob("train-images*")), batch_size=4), expected_idx[:15])


def test_float_vectors_with_a_scale_are_converted_back_to_raw(tmp_path):
    """digits: raw counts 0..16 scaled by 1/16. The named source yields x in [0, 1]; the
    SavedModel takes the raw counts; predict converts between the two exactly."""
    data = load_arrays("digits")
    model = tiny_model("mlp", (64,), k=10)
    saved = export_model(model, "digits", spec=InputSpec((64,), "float32", 1 / 16), base_dir=tmp_path)
    expected = model.predict(data.x, verbose=0)
    _check(predict(saved, "digits", batch_size=500), expected)
    _check(load_predictor(saved).predict_raw(data.x * 16), expected)


def test_output_files_csv_and_npz(images, tmp_path):
    npz = images["root"] / "images.npz"
    expected = images["expected"]
    summary = predict_to_file(images["saved"], npz, tmp_path / "out.csv", batch_size=6)
    assert summary["n"] == 23 and summary["cluster_sizes"] == np.bincount(expected.argmax(1), minlength=3).tolist()
    with open(tmp_path / "out.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "cluster", "p0", "p1", "p2"]
    table = np.array(rows[1:], dtype=np.float64)
    np.testing.assert_array_equal(table[:, 0], np.arange(23))
    np.testing.assert_array_equal(table[:, 1], expected.argmax(1))
    # the same batches as the file's: a convolution's rounding may depend on the batch size (AMD EPYC here)
    np.testing.assert_array_equal(table[:, 2:].astype(np.float32),
                                  predict(images["saved"], npz, batch_size=6)["probabilities"])

    predict_to_file(images["fit"], npz, tmp_path / "out.npz", batch_size=6, hidden=True)
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["cluster", "hidden", "probabilities"]
        _check({k: out[k] for k in out.files}, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.npz"]  # no temporary files

    with pytest.raises(ValueError, match="unsupported output format '.txt'"):
        predict_to_file(images["saved"], npz, tmp_path / "out.txt")
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        predict_to_file(images["saved"], npz, tmp_path / "missing" / "out.csv")


def test_wrong_inputs_give_clear_errors(images, tmp_path):
    predictor = load_predictor(images["saved"])
    raw = images["raw"][..., None]
    with pytest.raises(ValueError, match=r"one example of shape \(16, 16, 1\).*x\[None\]"):
        predictor.predict_raw(raw[0])
    with pytest.raises(ValueError, match=r"expected shape \(n, 16, 16, 1\), got \(23, 16, 16\)"):
        predictor.predict_raw(images["raw"])
    with pytest.raises(ValueError, match="takes raw uint8 inputs.*not scaled ones"):
        predictor.predict_raw(raw / 255.0)
    with pytest.raises(ValueError, match=r"outside the uint8 range \[0, 255\]"):
        predictor.predict_raw(raw.astype(np.int32) * 2)
    _check(predictor.predict_raw(raw.astype(np.int64)), images["expected"])  # in-range ints are fine
    with pytest.raises(ValueError, match="NaN"):
        check_raw_inputs(np.array([[1.0, np.nan]]), "float32", (2,))
    # a model trained on integer features (scale 1, not pixels) takes the same values as floats
    counts = check_raw_inputs(np.array([[3.0, -2.0], [0.0, 7.0]]), "int64", (2,))
    assert counts.dtype == np.int64 and counts.tolist() == [[3, -2], [0, 7]]
    with pytest.raises(ValueError, match=r"whole-number int64 inputs, but 2 of these float64 values are not whole "
                                         r"numbers \(the first: 3.7\)"):
        check_raw_inputs(np.array([[3.7, 1.0], [0.5, 2.0]]), "int64", (2,))
    with pytest.raises(ValueError, match="NaN"):
        check_raw_inputs(np.array([[np.nan, 1.0]]), "int64", (2,))
    with pytest.raises(ValueError, match=r"outside the int16 range"):
        check_raw_inputs(np.array([[1e6, 1.0]]), "int16", (2,))
    for value, dtype in ((2.0**31, "int32"), (2.0**63, "int64"), (-(2.0**63) * 1.01, "int64")):  # not wrapped
        with pytest.raises(ValueError, match=f"outside the {dtype} range"):
            check_raw_inputs(np.array([[value]], np.float32), dtype, (1,))
    # in range, but past what the float32 the model computes in holds exactly (training refuses them too)
    with pytest.raises(ValueError, match=r"up to 2147483520 cannot be held exactly in float32"):
        check_raw_inputs(np.array([[2.0**31 - 128]], np.float32), "int32", (1,))
    assert check_raw_inputs(np.array([[-(2**24), 2**24]]), "int64", (2,)).tolist() == [[-(2**24), 2**24]]
    with pytest.raises(ValueError, match=r"up to 16777217 cannot be held exactly"):
        check_raw_inputs(np.array([[2**24 + 1]]), "int32", (1,))
    # finite float64 values past float32's range would become Inf
    with pytest.raises(ValueError, match=r"exceed float32's range"):
        check_raw_inputs(np.array([[1e39, 0.0]]), "float32", (2,))
    # floats for a uint8 model: the remedy depends on whether they look scaled already
    with pytest.raises(ValueError, match=r"in \[0, 1\]; send the raw values.*np.rint\(x \* 255\)"):
        predictor.predict_raw(raw / 255.0)
    with pytest.raises(ValueError, match=r"send them as uint8 \(x.astype"):
        predictor.predict_raw(raw.astype(np.float64))
    with pytest.raises(ValueError, match="not numeric"):
        check_raw_inputs(np.array([["a", "b"]]), "float32", (2,))
    # data whose examples have another shape than the model's
    np.savez(tmp_path / "small.npz", x=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"expected shape \(n, 16, 16, 1\), got \(3, 8, 8, 1\)"):
        predict(predictor, tmp_path / "small.npz")
    # float data are read as given, where the model's uint8 training data were divided by 255
    np.savez(tmp_path / "floats.npz", x=np.full((2, *SHAPE), 0.3, np.float32))
    for model in (predictor, images["fit"]):
        with pytest.raises(ValueError, match=r"used as given \(scale 1\), but the model's training data \(uint8\) "
                                             r"was multiplied by 0.00392157 \(1/255\).*\.npy"):
            predict(model, tmp_path / "floats.npz")
    # a .keras model without data.json: raw .npy inputs need the scaling
    bare = tmp_path / "bare.keras"
    images["model"].save(bare)
    np.save(tmp_path / "raw.npy", raw)
    with pytest.raises(ValueError, match="--scale and --input-dtype"):
        predict(bare, tmp_path / "raw.npy")
    _check(predict(bare, tmp_path / "raw.npy", scale=1 / 255, input_dtype="uint8"), images["expected"])
    _check(predict(bare, images["root"] / "images.npz"), images["expected"])  # data.x needs no scale
    with pytest.raises(FileNotFoundError, match="no such model"):
        load_predictor(tmp_path / "nothing")
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_predictor(tmp_path)


def test_cli_predict(images, tmp_path, capsys):
    npz = str(images["root"] / "images.npz")
    out = tmp_path / "clusters.csv"
    argv = ["predict", "--model", str(images["saved"].parent), "--data", npz, "--out", str(out), "--batch-size", "8"]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "23 rows" in printed and "cluster sizes" in printed
    assert out.read_text().splitlines()[0] == "index,cluster,p0,p1,p2"
    assert cli_main(["predict", "--model", str(images["fit"]), "--data", npz, "--out", str(tmp_path / "c.json")]) == 2
    assert "unsupported output format" in capsys.readouterr().err
    assert cli_main(["predict", "--model", str(images["fit"]), "--data", npz, "--out", str(tmp_path / "c.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_kind"] == "keras"


def test_a_shape_error_names_the_data_not_the_batch(images, tmp_path):
    predictor = load_predictor(images["saved"])
    np.savez(tmp_path / "many.npz", x=np.zeros((600, 8, 8), np.uint8))  # read 256 rows at a time
    with pytest.raises(ValueError, match=r"expected shape \(n, 16, 16, 1\), got \(600, 8, 8, 1\)"):
        predict(predictor, tmp_path / "many.npz")


def test_a_scaling_given_may_repeat_the_recorded_one_but_not_change_it(images):
    """With data.json or an export's metadata the model's scaling is known: --scale and
    --input-dtype that repeat it are fine; others are refused, for every --data kind (they
    were used for one, ignored for others)."""
    np.save(images["root"] / "raw4.npy", images["raw"][..., None])
    for model in (images["fit"], images["saved"]):
        _check(predict(model, images["root"] / "raw4.npy", scale=1 / 255), images["expected"])
        for data in (images["root"] / "raw4.npy", images["root"] / "images.npz"):
            with pytest.raises(ValueError, match=r"scale 1.0 contradicts the scale the model was trained with, 0.0039"):
                predict(model, data, scale=1.0)
    _check(predict(images["fit"], images["root"] / "raw4.npy", input_dtype="uint8"), images["expected"])
    with pytest.raises(ValueError, match="input_dtype float32 contradicts the input_dtype the model was trained with, uint8"):
        predict(images["fit"], images["root"] / "raw4.npy", input_dtype="float32")


def test_one_runs_model_in_a_protocol_folder_is_scaled_by_the_protocols_data_json(images, tmp_path):
    """``predict --model OUT/runs/seed_0/model.keras`` (and a refined run's) reads OUT/data.json."""
    from ddc_tf.run_files import read_data_description

    out = tmp_path / "fit"
    for run in (out / "runs" / "seed_0", out / "refined" / "from_seeds_0-2_start300_steps5" / "runs" / "seed_3"):
        run.mkdir(parents=True)
        images["model"].save(run / "model.keras")
        assert read_data_description(run / "model.keras") is None
    (out / "data.json").write_text((images["fit"] / "data.json").read_text())
    np.save(tmp_path / "raw.npy", images["raw"][..., None])
    for run in (out / "runs" / "seed_0", out / "refined" / "from_seeds_0-2_start300_steps5" / "runs" / "seed_3"):
        assert read_data_description(run / "model.keras")["scale"] == pytest.approx(1 / 255)
        _check(predict(run / "model.keras", tmp_path / "raw.npy"), images["expected"])


def test_feature_names_are_compared_by_position_and_count():
    from types import SimpleNamespace

    from ddc_tf.serving.predict import check_feature_names

    def check(trained, given):
        check_feature_names(SimpleNamespace(feature_names=trained), SimpleNamespace(feature_names=given, name="t.csv"))

    check(("a", "b"), ("a", "b"))
    check(("a", "b"), None)  # a table without a header: read by position
    check(None, ("b", "a"))  # a model trained on unnamed columns
    with pytest.raises(ValueError, match=r"t.csv: has the model's columns in another order \(column 1 is 'b', not 'a'\)"):
        check(("a", "b"), ("b", "a"))
    with pytest.raises(ValueError, match=r"missing: 'x'; not trained on: 'y'\)"):  # a repeated name counts
        check(("x", "x", "y"), ("x", "y", "y"))
    with pytest.raises(ValueError, match=r"missing: 'x'; not trained on: none\)"):
        check(("x", "x", "y"), ("x", "y"))


def test_model_files_that_are_not_ddc_tf_models_are_named(tmp_path):
    import keras

    plain = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match=r"plain.keras: holds a Sequential, not a ddc_tf clustering model"):
        load_predictor(tmp_path / "plain.keras", scale=1.0, input_dtype="float32")
    (tmp_path / "junk.keras").write_text("not a model")
    with pytest.raises(ValueError, match=r"junk.keras: not a .keras model file \(a .keras file is a zip archive\)"):
        load_predictor(tmp_path / "junk.keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.keras", "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match=r"zip.keras: a zip archive but not a .keras model \(no config.json"):
        load_predictor(tmp_path / "zip.keras")


def test_a_fit_folder_before_its_first_results_is_named_unfinished(tmp_path):
    """A fit interrupted before it wrote its first results.json leaves runs/ and no model.keras:
    the reader says the fit has not finished, not that the folder holds no model."""
    from ddc_tf import run_files

    (tmp_path / "runs" / "seed_0").mkdir(parents=True)
    for read in (run_files.find_model_file, load_predictor):
        with pytest.raises(ValueError, match=r"has not finished \(no results.json\); repeat that fit command to "
                                             r"finish it \(finished runs are reused\)$"):
            read(tmp_path)


def test_raw_floats_that_look_scaled_already_are_warned_about(images, tmp_path):
    from types import SimpleNamespace

    from ddc_tf.serving.predict import warn_if_already_scaled

    digits_like = SimpleNamespace(scale=1 / 16)
    with pytest.warns(UserWarning, match=r"every value of the first rows lies in \[0, 1\].*by 0.0625"):
        warn_if_already_scaled(digits_like, np.full((2, 3), 0.5, np.float32), "x.npy")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_already_scaled(digits_like, np.full((2, 3), 7.0, np.float32), "x.npy")  # raw 0..16
        warn_if_already_scaled(SimpleNamespace(scale=1.0), np.full((2, 3), 0.5, np.float32), "x.npy")
        warn_if_already_scaled(digits_like, np.zeros((2, 3), np.float32), "x.npy")  # all zero: no telling


def test_data_scaled_otherwise_than_the_training_data_is_refused(tmp_path):
    """digits' model divides its 0..16 inputs by 16. An .npz of those values is read as floats used
    as given: fed as they are, the model would see 16× its inputs. Refused, with the way round (a
    .npy of raw values, which the model scales itself); the named source and the .npy agree."""
    from sklearn.datasets import load_digits

    data = load_arrays("digits")
    model = tiny_model("mlp", (64,), k=10)
    fit = tmp_path / "fit"
    fit.mkdir()
    model.save(fit / "model.keras")
    (fit / "data.json").write_text(json.dumps(describe_data(data)))
    saved = export_model(model, "digits", spec=InputSpec((64,), "float32", 1 / 16), base_dir=tmp_path / "served")
    raw = load_digits().data[:40]
    np.savez(tmp_path / "d.npz", x=raw)
    np.save(tmp_path / "d.npy", raw)
    expected = model.predict(data.x[:40], verbose=0)
    for model_path in (fit, saved):
        with pytest.raises(ValueError, match=r"d.npz: read as training data is read, its values are used as given "
                                             r"\(scale 1\), but the model's training data \(float32\) was multiplied "
                                             r"by 0.0625 \(1/16\).*in a .npy file"):
            predict(model_path, tmp_path / "d.npz")
        _check(predict(model_path, tmp_path / "d.npy"), expected)
        with pytest.raises(ValueError, match="used as given"):  # the Python API's ArrayData alike
            predict(model_path, ArrayData(x=raw.astype(np.float32), y=None, name="mine", kind="vector",
                                          raw_dtype="float32", scale=1.0))


def test_new_data_need_no_labels_and_odd_files_are_named(tmp_path):
    """Labels only score clusters: a new table's label column may be empty or hold -1, and a sparse
    .npz's labels are not read. An .npz under a .npy name and a dense x beside a CSR matrix are
    named, as the training loaders name them."""
    table = tmp_path / "train.csv"
    table.write_text("a,b,label\n" + "".join(f"{(i * 7) % 5},{i % 3},{i % 2}\n" for i in range(12)))
    data = load_arrays(table)
    model = tiny_model("mlp", (2,), k=2)
    fit = tmp_path / "fit"
    fit.mkdir()
    model.save(fit / "model.keras")
    (fit / "data.json").write_text(json.dumps(describe_data(data)))
    expected = model.predict(data.x, verbose=0)
    for labels in ("", "-1"):
        new = tmp_path / f"new{labels}.csv"
        new.write_text("a,b,label\n" + "".join(f"{(i * 7) % 5},{i % 3},{labels}\n" for i in range(12)))
        _check(predict(fit, new), expected)
    sparse = scipy.sparse.csr_matrix(data.x)
    np.savez(tmp_path / "s.npz", data=sparse.data, indices=sparse.indices, indptr=sparse.indptr,
             shape=np.array(sparse.shape), y=np.full(12, -1))
    _check(predict(fit, tmp_path / "s.npz"), expected)
    with pytest.raises(ValueError, match=r"\['label_column'\] are for .csv/.tsv tables; it does not take them"):
        predict(fit, tmp_path / "s.npz", data_options={"label_column": "s"})
    with pytest.raises(ValueError, match=r"\['color'\] are for image folders \(and seals\)"):
        predict(fit, tmp_path / "s.npz", data_options={"color": "rgb"})
    np.savez(tmp_path / "z.npz", x=data.x)
    (tmp_path / "z.npz").rename(tmp_path / "z.npy")
    with pytest.raises(ValueError, match=r"z.npy: is an .npz archive, not a .npy array; rename it to .npz"):
        predict(fit, tmp_path / "z.npy")
    np.savez(tmp_path / "both.npz", x=data.x, data=sparse.data, indices=sparse.indices, indptr=sparse.indptr,
             shape=np.array(sparse.shape))
    with pytest.raises(ValueError, match="holds both a dense 'x' and a CSR matrix"):
        predict(fit, tmp_path / "both.npz")
