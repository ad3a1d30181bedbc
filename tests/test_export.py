"""SavedModel export for TF Serving: equality with model.predict, signatures as
saved_model_cli reports them, a fresh TensorFlow-only process, input checks, versions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from ddc_tf.cli import main as cli_main  # noqa: E402
from ddc_tf.serving.export import (  # noqa: E402
    METADATA_FILE,
    InputSpec,
    export_model,
    list_versions,
    read_metadata,
    resolve_input_spec,
)
from ddc_tf.models import DDC  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUIET_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}

# (backbone, input shape, raw dtype, scale): both backbones, uint8 and float inputs.
CASES = {
    "conv-uint8": ("conv", (16, 16, 1), "uint8", 1 / 255),
    "conv-float32": ("conv", (16, 16, 1), "float32", 1.0),
    "mlp-float32": ("mlp", (6,), "float32", 1 / 16),
    "mlp-uint8": ("mlp", (12,), "uint8", 1 / 255),
}


def tiny_model(backbone: str, input_shape: tuple[int, ...], k: int = 3, seed: int = 0) -> DDC:
    """An untrained DDC whose batch-norm statistics are not the defaults (so a graph that
    ran batch norm in training mode would give different outputs)."""
    keras.utils.set_random_seed(seed)
    model = DDC(n_clusters=k, backbone=backbone, hidden_units=8)
    model.build((None, *input_shape))
    bn = model.hidden_layer.get_layer("batch_norm")
    rng = np.random.default_rng(seed)
    bn.moving_mean.assign(rng.normal(size=8).astype(np.float32))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=8).astype(np.float32))
    return model


def raw_inputs(shape: tuple[int, ...], dtype: str, n: int = 9, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "uint8":
        return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return (rng.uniform(0, 16, size=(n, *shape))).astype(np.float32)


def scaled(raw: np.ndarray, scale: float) -> np.ndarray:
    """How ddc_tf.data scales raw inputs for training."""
    return raw.astype(np.float32) * np.float32(scale)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One export per case: {case: (model, spec, path)}."""
    base = tmp_path_factory.mktemp("saved_models")
    out = {}
    for case, (backbone, shape, dtype, scale) in CASES.items():
        model = tiny_model(backbone, shape)
        spec = InputSpec(shape, dtype, scale, data=f"toy-{case}")
        out[case] = (model, spec, export_model(model, case, spec=spec, base_dir=base))
    return out


def _saved_model_cli(*args: str) -> list[str]:
    exe = shutil.which("saved_model_cli")
    return [*([exe] if exe else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]), *args]


FRESH_SCRIPT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ddc_tf":
            raise ImportError("ddc_tf must not be imported here")
sys.meta_path.insert(0, Block())
import numpy as np
import tensorflow as tf
jobs = {jobs!r}
for path, x, expected in jobs:
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](x=tf.constant(np.load(x)))
    expected = np.load(expected)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert (out["cluster"].numpy() == expected.argmax(1)).all()
assert not any(m.split(".")[0] == "ddc_tf" for m in sys.modules)
print("served", len(jobs), "models")
"""


@pytest.fixture(scope="module")
def tools(exports, tmp_path_factory):
    """Starts, in parallel and in the background, the checks that need a fresh process
    (each spends seconds importing TensorFlow): ``saved_model_cli show --all``,
    ``saved_model_cli run`` on an .npy, and a TensorFlow-only process serving two exports.

    Yields ``{check: (Popen, expected)}``; a test waits for its process with ``finish``.
    """
    work = tmp_path_factory.mktemp("tools")
    expected, jobs = {}, []
    for case, n in (("conv-uint8", 12), ("mlp-float32", 7)):
        model, spec, path = exports[case]
        raw = raw_inputs(spec.input_shape, spec.raw_dtype, n=n, seed=5)
        np.save(work / f"{case}-x.npy", raw)
        expected[case] = model.predict(scaled(raw, spec.scale), verbose=0)
        np.save(work / f"{case}-expected.npy", expected[case])
        jobs.append((str(path), str(work / f"{case}-x.npy"), str(work / f"{case}-expected.npy")))
    conv_path = str(exports["conv-uint8"][2])
    commands = {
        "show": _saved_model_cli("show", "--all", "--dir", conv_path),
        "run": _saved_model_cli(
            "run", "--dir", conv_path, "--tag_set", "serve", "--signature_def", "serving_default",
            "--inputs", f"x={work / 'conv-uint8-x.npy'}", "--outdir", str(work / "out"),
        ),
        # a fresh process that never imports ddc_tf (PYTHONPATH emptied, imports blocked)
        "fresh": [sys.executable, "-c", FRESH_SCRIPT.format(jobs=jobs)],
    }
    procs = {
        name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=QUIET_ENV, cwd=work)
        for name, cmd in commands.items()
    }
    yield {"procs": procs, "expected": expected, "work": work}
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def _start_tools_early(request):
    """Start ``tools`` before the first test, so the processes overlap the other tests —
    only when a selected test needs them."""
    if any("tools" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("tools")


def finish(tools, name: str) -> str:
    out, err = tools["procs"][name].communicate(timeout=300)
    assert tools["procs"][name].returncode == 0, err[-3000:]
    return out


# --------------------------------------------------------------------------- equality
@pytest.mark.parametrize("case", list(CASES))
def test_exported_predictions_equal_model_predict(exports, case):
    model, spec, path = exports[case]
    raw = raw_inputs(spec.input_shape, spec.raw_dtype)
    expected = model.predict(scaled(raw, spec.scale), verbose=0)
    loaded = tf.saved_model.load(str(path))
    out = loaded.signatures["serving_default"](x=tf.constant(raw))
    assert set(out) == {"probabilities", "cluster"}
    assert out["probabilities"].dtype == tf.float32 and out["cluster"].dtype == tf.int64
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["cluster"].numpy(), expected.argmax(axis=1))
    hidden = loaded.signatures["embed"](x=tf.constant(raw))["hidden"].numpy()
    np.testing.assert_allclose(hidden, model.embed(scaled(raw, spec.scale)).numpy(), rtol=1e-5, atol=1e-5)
    # dynamic batch dimension: a single row works too
    one = loaded.signatures["serving_default"](x=tf.constant(raw[:1]))
    np.testing.assert_allclose(one["probabilities"].numpy(), expected[:1], rtol=1e-5, atol=1e-6)


def test_layout_and_metadata(exports):
    model, spec, path = exports["conv-uint8"]
    assert path.name == "1" and path.parent.name == "conv-uint8"
    assert (path / "saved_model.pb").is_file() and (path / "variables" / "variables.index").is_file()
    assert [p.name for p in path.parent.iterdir()] == ["1"]  # no temporary folders left
    meta = json.loads((path / METADATA_FILE).read_text())
    assert meta == read_metadata(path)
    assert meta["ddc_tf_version"] and meta["name"] == "conv-uint8" and meta["version"] == 1
    assert meta["input"]["raw_dtype"] == "uint8" and meta["input"]["scale"] == pytest.approx(1 / 255)
    assert meta["input"]["input_shape"] == [16, 16, 1] and meta["input"]["data"] == "toy-conv-uint8"
    assert meta["model"]["n_clusters"] == 3 and meta["model"]["backbone"] == "conv"
    assert meta["model"]["method"] == "ddc" and meta["model"]["parameters"] == model.count_params()
    sig = meta["signatures"]["serving_default"]
    assert sig["inputs"]["x"] == {"dtype": "uint8", "shape": [None, 16, 16, 1]}
    assert sig["outputs"]["cluster"] == {"dtype": "int64", "shape": [None]}
    assert meta["signatures"]["embed"]["outputs"]["hidden"]["shape"] == [None, 8]


def test_versions_are_never_overwritten(tmp_path):
    model = tiny_model("mlp", (4,))
    spec = InputSpec((4,), "float32", 1.0)
    assert export_model(model, "m", spec=spec, base_dir=tmp_path).name == "1"
    assert export_model(model, "m", spec=spec, base_dir=tmp_path, version=7).name == "7"
    assert export_model(model, "m", spec=spec, base_dir=tmp_path).name == "8"
    before = (tmp_path / "m" / "7" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="never overwritten.*next free one \\(9\\)"):
        export_model(model, "m", spec=spec, base_dir=tmp_path, version=7)
    assert (tmp_path / "m" / "7" / "saved_model.pb").stat().st_mtime_ns == before
    assert list_versions(tmp_path / "m") == [1, 7, 8]
    for bad in (0, -1, "x", 1.5):
        with pytest.raises(ValueError, match="positive integer"):
            export_model(model, "m", spec=spec, base_dir=tmp_path, version=bad)
    for bad in ("../m", "a/b", ".hidden", ""):
        with pytest.raises(ValueError, match="plain folder name"):
            export_model(model, bad, spec=spec, base_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "7", "8"]


# --------------------------------------------------------------------------- TF tooling
def test_saved_model_cli_show_lists_both_signatures(tools):
    text = finish(tools, "show")
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)Method name is", text, re.S))
    assert {"serving_default", "embed"} <= set(blocks)
    serve = blocks["serving_default"]
    assert re.search(r"inputs\['x'\] tensor_info:\s+dtype: DT_UINT8\s+shape: \(-1, 16, 16, 1\)", serve)
    assert re.search(r"outputs\['probabilities'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 3\)", serve)
    assert re.search(r"outputs\['cluster'\] tensor_info:\s+dtype: DT_INT64\s+shape: \(-1\)", serve)
    embed = blocks["embed"]
    assert re.search(r"inputs\['x'\] tensor_info:\s+dtype: DT_UINT8\s+shape: \(-1, 16, 16, 1\)", embed)
    assert re.search(r"outputs\['hidden'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 8\)", embed)
    assert text.count("Method name is: tensorflow/serving/predict") >= 2


def test_saved_model_cli_run_on_npy_gives_the_same_clusters(tools):
    finish(tools, "run")
    expected = tools["expected"]["conv-uint8"]
    out = tools["work"] / "out"
    np.testing.assert_array_equal(np.load(out / "cluster.npy"), expected.argmax(axis=1))
    np.testing.assert_allclose(np.load(out / "probabilities.npy"), expected, rtol=1e-5, atol=1e-6)


def test_fresh_process_with_only_tensorflow_serves_the_model(tools):
    """A process that never imports ddc_tf loads and serves the conv/uint8 and mlp/float exports."""
    assert "served 2 models" in finish(tools, "fresh")


# --------------------------------------------------------------------------- input checks
def test_wrong_inputs_are_rejected_at_the_signature(exports):
    _, spec, path = exports["conv-uint8"]
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    raw = raw_inputs(spec.input_shape, "uint8", n=2)
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError), match="uint8"):
        serve(x=tf.constant(raw.astype(np.float32)))
    for bad in (raw[:, :8], raw[..., 0], raw[0]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape \[\?,16,16,1\]"):
            serve(x=tf.constant(bad))

    _, spec, path = exports["mlp-float32"]
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    x = raw_inputs(spec.input_shape, "float32", n=3)
    x[1, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="ddc_tf: input 'x' contains NaN or Inf"):
        serve(x=tf.constant(x))
    x[1, 2] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        serve(x=tf.constant(x))


def test_python_api_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="not supported"):
        InputSpec((4,), "complex64", 1.0)
    with pytest.raises(ValueError, match="scale must be a positive"):
        InputSpec((4,), "float32", 0.0)
    unbuilt = DDC(n_clusters=2, backbone="mlp")
    with pytest.raises(ValueError, match="not built"):
        export_model(unbuilt, "m", spec=InputSpec((4,), "float32", 1.0), base_dir=tmp_path)
    model = tiny_model("mlp", (4,))
    with pytest.raises(ValueError, match="--scale and --input-dtype"):
        resolve_input_spec(model)
    spec, _ = resolve_input_spec(model, scale=0.5, input_dtype="float32")
    assert spec.input_shape == (4,) and spec.scale == 0.5


@pytest.mark.parametrize("method", [pytest.param("ot", marks=pytest.mark.slow), "dcan"])
def test_sibling_methods_export_and_serve_alike(method, tmp_path):
    """OTClustering and DCAN export like DDC; the metadata says which method it is."""
    from ddc_tf.models import METHODS

    keras.utils.set_random_seed(0)
    model = METHODS[method](n_clusters=3, backbone="mlp", hidden_units=8)
    model.build((None, 6))
    spec = InputSpec((6,), "float32", 1 / 16, data="toy")
    path = export_model(model, method, spec=spec, base_dir=tmp_path)
    meta = read_metadata(path)
    assert meta["model"]["method"] == method and meta["model"]["n_clusters"] == 3
    raw = raw_inputs((6,), "float32")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](x=tf.constant(raw))
    np.testing.assert_allclose(served["probabilities"].numpy(), model.predict(scaled(raw, 1 / 16), verbose=0),
                               rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- CLI
def test_cli_export_reads_data_json_and_results(tmp_path, capsys):
    from ddc_tf.data import load_arrays
    from ddc_tf.experiments.protocol import describe_data

    images = raw_inputs((16, 16), "uint8", n=10)
    np.savez(tmp_path / "imgs.npz", x=images)
    data = load_arrays(tmp_path / "imgs.npz")
    model = tiny_model("conv", (16, 16, 1))
    fit_dir = tmp_path / "fit"
    fit_dir.mkdir()
    model.save(fit_dir / "model.keras")
    (fit_dir / "data.json").write_text(json.dumps(describe_data(data)))
    (fit_dir / "results.json").write_text(json.dumps({"best": {"seed": 0, "acc": 0.5}}))
    base = tmp_path / "served"

    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base)]) == 0
    out = capsys.readouterr().out
    assert "serving_default: (x: uint8[None, 16, 16, 1])" in out
    assert "(raw uint8, from data " in out  # where the scaling came from
    meta = read_metadata(base / "imgs" / "1")
    assert meta["input"]["raw_dtype"] == "uint8" and meta["input"]["scale"] == pytest.approx(1 / 255)
    assert meta["training"] == {"best": {"seed": 0, "acc": 0.5}} and meta["data"]["n"] == 10
    served = tf.saved_model.load(str(base / "imgs" / "1")).signatures["serving_default"]
    np.testing.assert_allclose(
        served(x=tf.constant(images[..., None]))["probabilities"].numpy(),
        model.predict(data.x, verbose=0), rtol=1e-5, atol=1e-6,
    )

    # the same version again: a clear error, exit code 2, nothing overwritten
    argv = ["export", "--model", str(fit_dir / "model.keras"), "--name", "imgs", "--base-dir", str(base), "--version", "1"]
    assert cli_main(argv) == 2
    assert "exists already" in capsys.readouterr().err

    # no data.json: explicit options (a fraction is accepted), or --data
    (fit_dir / "data.json").unlink()
    (fit_dir / "results.json").unlink()
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base)]) == 2
    assert "--scale and --input-dtype" in capsys.readouterr().err
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base),
                     "--input-dtype", "uint8", "--scale", "1/255"]) == 0
    assert "(raw uint8, scale from --scale, dtype from --input-dtype)" in capsys.readouterr().out
    assert read_metadata(base / "imgs" / "2")["input"]["scale"] == pytest.approx(1 / 255)
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base),
                     "--data", str(tmp_path / "imgs.npz")]) == 0
    assert read_metadata(base / "imgs" / "3")["input"]["raw_dtype"] == "uint8"
    from ddc_tf.serving.export import resolve_input_spec  # no data.json: a given scale wins over --data's

    assert resolve_input_spec(model, data=data, scale=0.5)[0].scale == 0.5
    # data of another shape than the model's
    np.savez(tmp_path / "other.npz", x=raw_inputs((20, 20), "uint8", n=3))
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base),
                     "--data", str(tmp_path / "other.npz")]) == 2
    assert "built for inputs of shape (16, 16, 1)" in capsys.readouterr().err
    assert list_versions(base / "imgs") == [1, 2, 3]

    # a recorded scale is not contradicted: not by --scale, not by data read at another scale
    (fit_dir / "data.json").write_text(json.dumps(describe_data(data)))
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base), "--scale", "1"]) == 2
    assert "--scale: scale 1.0 contradicts the scale the model was trained with, 0.00392" in capsys.readouterr().err
    np.savez(tmp_path / "floats.npz", x=images.astype(np.float32))  # float: read at scale 1
    assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base),
                     "--data", str(tmp_path / "floats.npz")]) == 2
    assert "scale 1.0 contradicts the scale the model was trained with" in capsys.readouterr().err
    assert list_versions(base / "imgs") == [1, 2, 3]
    # a new version that its clients cannot call as the last one: a warning (TF Serving switches by itself)
    with pytest.warns(UserWarning, match=r"version 3 serves raw dtype uint8; this export serves raw dtype float32"):
        assert cli_main(["export", "--model", str(fit_dir), "--name", "imgs", "--base-dir", str(base),
                         "--input-dtype", "float32"]) == 0


# --------------------------------------------------------------------------- the example
def test_example_digits_model_gives_the_recorded_clusters():
    """saved_models/ddc_digits: fed the raw digits, it reproduces the trained model's
    results recorded in its metadata (ACC, NMI and cluster sizes of the best run)."""
    from sklearn.datasets import load_digits

    from ddc_tf.evaluation import cluster_metrics

    base = REPO / "saved_models" / "ddc_digits"
    versions = list_versions(base)
    if not versions:
        pytest.skip("no example model; run saved_models/make_example.py")
    path = base / str(versions[-1])
    meta = read_metadata(path)
    digits = load_digits()
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    clusters = serve(x=tf.constant(digits.data.astype(np.float32)))["cluster"].numpy()
    best = meta["training"]["best"]
    metrics = cluster_metrics(digits.target.astype(np.int64), clusters)
    assert metrics["acc"] == pytest.approx(best["acc"], abs=1e-12)
    assert metrics["nmi"] == pytest.approx(best["nmi"], abs=1e-12)
    best_run = next(r for r in meta["training"]["runs"] if r["seed"] == best["seed"])
    assert np.bincount(clusters, minlength=10).tolist() == best_run["cluster_sizes"]
    assert (path / "saved_model.pb").stat().st_size + (path / "variables").stat().st_size < 5e6


def test_cli_export_defaults_outside_tracked_folders(tmp_path, monkeypatch, capsys):
    """Without --base-dir an export lands under outputs/ (ignored by git), not saved_models/."""
    model = tiny_model("mlp", (6,))
    model.save(tmp_path / "model.keras")
    monkeypatch.chdir(tmp_path)
    code = cli_main(["export", "--model", str(tmp_path / "model.keras"), "--name", "mine",
                     "--input-dtype", "float32", "--scale", "1"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "outputs" / "saved_models" / "mine" / "1" / "saved_model.pb").is_file()
    assert not (tmp_path / "saved_models").exists()
