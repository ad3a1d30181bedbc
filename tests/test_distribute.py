"""DDC under ``tf.distribute.MirroredStrategy`` with two logical CPU devices.

Logical devices must be configured before TensorFlow initialises its devices, which other
tests in the same pytest process will already have done. So the checks run once in a fresh
subprocess (this file run as a script, ``python tests/test_distribute.py``) that prints a JSON
report; the tests below only read that report. Nothing here touches the pytest process's
TensorFlow state.

Checked, on a tiny MLP DDC (k=3, 8 inputs, hidden 16) and a global batch of 20 points (10 per
replica):
- ``kernel="global"``: the loss terms on each replica equal the single-device terms on the
  global batch (training and inference mode);
- one ``train_step`` (SGD) under the strategy gives the same weights (incl. batch-norm moving
  statistics) as one single-device ``train_step`` on the global batch — i.e. the summed
  gradients equal the single-device gradients (the 1/R loss factor is right);
- ``kernel="local"``: each replica's terms are its own half's, the step equals the mean of
  the single-device gradients of the halves;
- ``fit``/``evaluate`` run end to end under the strategy for both kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPLICAS = 2
PER_REPLICA = 10


def _worker() -> dict:  # pragma: no cover - runs in the subprocess
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * REPLICAS
    )
    import keras

    from ddc_tf.models import DDC

    report: dict = {}
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    report["devices"] = len(devices)
    from ddc_tf.experiments.training import make_strategy

    # Every logical CPU device (no GPUs here). One strategy per process: a second
    # MirroredStrategy in the same process can collide on collective instance keys.
    strategy = make_strategy("mirrored")
    report["replicas"] = strategy.num_replicas_in_sync

    rng = np.random.default_rng(0)
    x = rng.normal(size=(REPLICAS * PER_REPLICA, 8)).astype("float32")
    halves = [x[r * PER_REPLICA : (r + 1) * PER_REPLICA] for r in range(REPLICAS)]
    dist_x = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group])
    )
    lr = 0.5

    def make(kernel: str) -> DDC:
        keras.utils.set_random_seed(1)
        model = DDC(n_clusters=3, backbone="mlp", hidden_units=16, kernel=kernel)
        model.build((None, 8))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr))
        return model

    def weights(model: DDC) -> list:
        return [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in model.weights]

    for kernel in ("global", "local"):
        single = make(kernel)
        start = weights(single)
        with strategy.scope():
            dist = make(kernel)
        dist.set_weights(start)
        r = report[kernel] = {}
        r["synchronized_bn"] = [
            bool(l.synchronized)
            for l in dist._flatten_layers(include_self=False)
            if isinstance(l, keras.layers.BatchNormalization)
        ]

        # Loss terms per replica vs single device.
        for training in (False, True):  # inference first: training mode moves BN statistics
            dist.set_weights(start)
            per_replica = strategy.run(
                tf.function(lambda xb: dist.loss_terms(xb, training=training)), args=(dist_x,)
            )
            got = [
                {k: float(strategy.experimental_local_results(v)[i]) for k, v in per_replica.items()}
                for i in range(REPLICAS)
            ]
            if kernel == "global":
                single.set_weights(start)
                want = [{k: float(v) for k, v in single.loss_terms(tf.constant(x), training=training).items()}] * REPLICAS
            else:
                want = []
                for h in halves:
                    single.set_weights(start)
                    want.append({k: float(v) for k, v in single.loss_terms(tf.constant(h), training=training).items()})
            r[f"terms_training_{training}"] = {"distributed": got, "single": want}

        # One optimizer step.
        dist.set_weights(start)
        single.set_weights(start)
        strategy.run(tf.function(lambda xb: dist.train_step(xb)), args=(dist_x,))
        if kernel == "global":
            single.train_step(tf.constant(x))
            want_w = weights(single)
        else:
            # mean over replicas of the half-batch gradients (SGD: mean of the updated weights)
            stepped = []
            for h in halves:
                single.set_weights(start)
                single.train_step(tf.constant(h))
                stepped.append(weights(single))
            want_w = [np.mean(ws, axis=0) for ws in zip(*stepped)]
            # batch-norm moving statistics are per replica in "local" mode: compare trainables
            keep = [i for i, v in enumerate(single.weights) if v.trainable]
            want_w = [want_w[i] for i in keep]
        got_w = weights(dist)
        if kernel == "local":
            got_w = [got_w[i] for i in keep]
        before = [start[i] for i in (keep if kernel == "local" else range(len(start)))]
        update = max(float(np.max(np.abs(w - s))) for w, s in zip(want_w, before))
        r["step_update_size"] = update  # largest single-device weight change of the step
        # largest distributed-vs-single difference, relative to the size of the update
        r["step_error_rel_to_update"] = max(
            float(np.max(np.abs(g - w))) for g, w in zip(got_w, want_w)
        ) / update

        # fit / evaluate end to end.
        ds = tf.data.Dataset.from_tensor_slices(np.concatenate([x, x[::-1]])).batch(REPLICAS * PER_REPLICA)
        history = dist.fit(ds.repeat(), epochs=2, steps_per_epoch=2, verbose=0)
        r["fit_loss"] = [float(v) for v in history.history["loss"]]
        r["evaluate"] = {k: float(v) for k, v in dist.evaluate(ds, verbose=0, return_dict=True).items()}
        r["config_kernel"] = dist.get_config()["kernel"]

    # The sibling methods: their loss is computed per replica (each its local batch), the
    # gradients averaged; fit and evaluate run end to end, with their state updates.
    from ddc_tf.models import DCAN, OTClustering

    sibling_ds = tf.data.Dataset.from_tensor_slices(np.concatenate([x, x[::-1]])).batch(REPLICAS * PER_REPLICA)
    for cls in (OTClustering, DCAN):
        with strategy.scope():
            sibling = cls(n_clusters=3, backbone="mlp", hidden_units=16, proportions=(0.5, 0.3, 0.2))
            sibling.build((None, 8))
            sibling.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = sibling.fit(sibling_ds.repeat(), epochs=2, steps_per_epoch=2, verbose=0)
        report[f"sibling_{cls.METHOD}"] = {
            "fit_loss": [float(v) for v in history.history["loss"]],
            "evaluate": {k: float(v) for k, v in sibling.evaluate(sibling_ds, verbose=0, return_dict=True).items()},
            "iterations": int(sibling.optimizer.iterations.numpy()),
        }

    # The protocol path: TrainConfig(strategy="mirrored") → build_model / train_run.
    from ddc_tf.data import ArrayData
    from ddc_tf.experiments.training import TrainConfig, train_run

    data = ArrayData(x=np.concatenate([x, x[::-1]]), y=None, name="blobs", kind="vector",
                     raw_dtype="float32", scale=1.0)
    config = TrainConfig(n_clusters=3, backbone="mlp", steps=4, batch_size=20, strategy="mirrored")
    model, history = train_run(data, config, seed=0, verbose=0)
    report["train_run"] = {
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        "loss": history["loss"],
        "kernel": model.kernel,
    }

    # The usual tf.distribute pattern: made and compiled in the scope, not built, fit outside it
    # (fit builds the weights from the data, in the model's strategy).
    with strategy.scope():
        unbuilt = DDC(n_clusters=3, backbone="mlp", hidden_units=16)
        unbuilt.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = unbuilt.fit(sibling_ds.repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    report["unbuilt_fit_outside_scope"] = [float(v) for v in history.history["loss"]]
    return report


@pytest.fixture(scope="module")
def report() -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if proc.returncode != 0:
        pytest.fail(f"distributed worker failed:\n{proc.stderr[-4000:]}")
    line = [l for l in proc.stdout.splitlines() if l.startswith("REPORT ")][-1]
    return json.loads(line[len("REPORT "):])


def _close(a: dict, b: dict, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    return all(abs(a[k] - b[k]) <= atol + rtol * abs(b[k]) for k in ("l1", "l2", "l3", "total"))


@pytest.mark.slow
def test_two_replicas(report: dict) -> None:
    assert report["devices"] >= 2 and report["replicas"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("training", [True, False])
def test_global_loss_equals_single_device_on_global_batch(report: dict, training: bool) -> None:
    terms = report["global"][f"terms_training_{training}"]
    for got, want in zip(terms["distributed"], terms["single"]):
        assert _close(got, want), (got, want)


@pytest.mark.slow
def test_global_kernel_synchronises_batch_norm(report: dict) -> None:
    assert report["global"]["synchronized_bn"] and all(report["global"]["synchronized_bn"])
    assert not any(report["local"]["synchronized_bn"])


@pytest.mark.slow
def test_global_step_equals_single_device_step(report: dict) -> None:
    assert report["global"]["step_update_size"] > 1e-3  # the step did change the weights
    assert report["global"]["step_error_rel_to_update"] < 1e-3


@pytest.mark.slow
def test_local_kernel_is_mean_of_per_replica_losses(report: dict) -> None:
    for training in (True, False):
        terms = report["local"][f"terms_training_{training}"]
        for got, want in zip(terms["distributed"], terms["single"]):
            assert _close(got, want), (got, want)
    assert report["local"]["step_update_size"] > 1e-3
    assert report["local"]["step_error_rel_to_update"] < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["global", "local"])
def test_fit_end_to_end(report: dict, kernel: str) -> None:
    r = report[kernel]
    assert len(r["fit_loss"]) == 2
    assert all(v == v and abs(v) < 1e6 for v in r["fit_loss"])
    assert set(r["evaluate"]) >= {"loss", "l1", "l2", "l3"}
    assert r["config_kernel"] == kernel


@pytest.mark.slow
def test_train_run_with_mirrored_strategy(report: dict) -> None:
    r = report["train_run"]
    assert r["replicas"] == 2 and r["kernel"] == "global"
    assert r["loss"] and all(v == v for v in r["loss"])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ot", "dcan"])
def test_sibling_methods_fit_under_the_strategy(report: dict, method: str) -> None:
    result = report[f"sibling_{method}"]
    assert result["iterations"] == 4
    assert all(np.isfinite(v) for v in result["fit_loss"])
    assert {"loss", "l1", "l2", "l3"} <= set(result["evaluate"])
    assert all(np.isfinite(v) for v in result["evaluate"].values())


def test_strategy_option_validated_and_parsed() -> None:
    from ddc_tf.cli import build_parser
    from ddc_tf.experiments.training import TrainConfig

    assert TrainConfig(n_clusters=3, strategy="mirrored").strategy == "mirrored"
    assert "strategy" not in TrainConfig(n_clusters=3).to_dict()  # unchanged run signature
    with pytest.raises(ValueError, match="strategy"):
        TrainConfig(n_clusters=3, strategy="tpu")
    for method in ("ot", "dcan"):  # the siblings' loss is per replica (see the worker)
        assert TrainConfig(n_clusters=3, strategy="mirrored", method=method).strategy == "mirrored"
    args = build_parser().parse_args(["fit", "--data", "digits", "--strategy", "multiworker"])
    assert args.strategy == "multiworker"


def test_kernel_option() -> None:
    from ddc_tf.models import DDC

    with pytest.raises(ValueError, match="kernel"):
        DDC(n_clusters=3, backbone="mlp", kernel="sharded")
    assert DDC(n_clusters=3, backbone="mlp").get_config()["kernel"] == "global"


@pytest.mark.slow
def test_a_model_made_in_the_scope_fits_outside_it_unbuilt(report: dict) -> None:
    losses = report["unbuilt_fit_outside_scope"]
    assert len(losses) == 1 and np.isfinite(losses[0])


if __name__ == "__main__":  # the subprocess
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print("REPORT " + json.dumps(_worker()), flush=True)
