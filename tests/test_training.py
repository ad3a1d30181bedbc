"""ddc_tf.experiments.training: the digits acceptance test, exact step counts, determinism, backbone
choice, TrainConfig validation and resuming an interrupted run."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ddc_tf.experiments.resume import ChunkCheckpoint
from ddc_tf.experiments import training
from ddc_tf.data import ArrayData, load_arrays
from ddc_tf.evaluation import accuracy
from ddc_tf.experiments.training import (
    TrainConfig,
    build_model,
    dataset_loss,
    predict_assignments,
    resolve_backbone,
    train_run,
)


def small_vectors(n: int = 120, d: int = 4, k: int = 3, seed: int = 0, labels: bool = True) -> ArrayData:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.normal(scale=3.0, size=(k, d))[y] + rng.normal(scale=0.5, size=(n, d))
    return ArrayData(
        x=x.astype(np.float32), y=y.astype(np.int64) if labels else None, name="blobs",
        kind="vector", raw_dtype="float32", scale=1.0,
    )


def images(n: int, size: int) -> ArrayData:
    x = np.random.default_rng(0).uniform(size=(n, size, size, 1)).astype(np.float32)
    return ArrayData(x=x, y=None, name=f"img{size}", kind="image", raw_dtype="float32", scale=1.0)


def config(**kwargs) -> TrainConfig:
    kwargs = {"n_clusters": 3, "backbone": "mlp", "steps": 6, "batch_size": 40,
              "learning_rate": 1e-3, "hidden_units": 16, **kwargs}
    return TrainConfig(**kwargs)


# --------------------------------------------------------------------------- acceptance
def test_digits_training_beats_chance_and_lowers_the_loss():
    """The issue's core acceptance test: a few hundred MLP steps on the real digits."""
    data = load_arrays("digits")
    cfg = TrainConfig(n_clusters=10, backbone="mlp", steps=200, batch_size=100, learning_rate=1e-3)

    keras.utils.set_random_seed(0)
    untrained = build_model(cfg, data)
    loss_before = dataset_loss(untrained, data)["loss"]
    acc_before = accuracy(data.y, predict_assignments(untrained, data).argmax(axis=1))

    model, history = train_run(data, cfg, seed=0, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 200
    clusters = predict_assignments(model, data).argmax(axis=1)
    acc = accuracy(data.y, clusters)
    loss_after = dataset_loss(model, data)["loss"]

    assert acc >= 0.5, f"ACC {acc:.3f} (chance ≈ 0.1, untrained {acc_before:.3f})"
    assert acc > acc_before + 0.2
    assert loss_after < loss_before - 0.2, (loss_before, loss_after)
    assert history["loss"][-1] < history["loss"][0]
    assert np.unique(clusters).size >= 8  # not collapsed onto a few clusters


# --------------------------------------------------------------------------- steps
@pytest.mark.parametrize("steps", [23])
def test_train_run_takes_exactly_config_steps(steps):
    # 23 steps: logging chunks of 3, so 8 chunks would overshoot by one;
    # 120 points in batches of 40: the steps run across several passes over the data
    data = small_vectors()
    model, history = train_run(data, config(steps=steps), seed=0, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == steps
    assert set(history) == {"loss", "l1", "l2", "l3"}
    assert all(np.all(np.isfinite(v)) for v in history.values())


def test_steps_per_call_divides_the_chunks_and_the_run():
    assert training.steps_per_call(3000, 300) == 20
    assert training.steps_per_call(23, 3) == 1  # the run ends inside a chunk: one step per call
    assert training.steps_per_call(24, 12) == 12
    assert training.steps_per_call(1234, 124) == 2
    assert training.steps_per_call(3000, 300, per_step_callbacks=True) == 1
    assert training.steps_per_call(3000, 300, strategy="mirrored") == 1
    for steps in range(1, 200):
        chunk, _ = training.chunking(steps)
        per_call = training.steps_per_call(steps, chunk)
        assert chunk % per_call == 0 and steps % per_call == 0 and per_call <= training.MAX_STEPS_PER_CALL


@pytest.mark.parametrize("method, neighbors", [("ddc", 0), ("ddc", 2), pytest.param("dcan", 0, marks=pytest.mark.slow)])
def test_several_steps_per_call_train_exactly_the_one_step_run(monkeypatch, method, neighbors):
    """Steps run n per call of the compiled function (steps_per_call) give the run one step
    per call gives, bit for bit: same weights, same step count, the same chunk logs; the model
    keeps the setting it was compiled (and is saved) with."""
    data = small_vectors()
    cfg = config(steps=30, method=method, neighbors=neighbors, input_dropout=0.1 if method == "ddc" else 0.0)
    assert training.steps_per_call(cfg.steps, training.chunking(cfg.steps)[0]) == 3
    fast, fast_history = train_run(data, cfg, seed=5, verbose=0)
    monkeypatch.setattr(training, "MAX_STEPS_PER_CALL", 1)
    slow, slow_history = train_run(data, cfg, seed=5, verbose=0)
    assert int(fast.optimizer.iterations.numpy()) == int(slow.optimizer.iterations.numpy()) == 30
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fast_history.keys() == slow_history.keys()
    for key in fast_history:  # a chunk's mean metric may differ in its last bit (DCAN: 1e-7)
        np.testing.assert_allclose(fast_history[key], slow_history[key], rtol=1e-6, err_msg=key)
    assert fast.steps_per_execution == 1 and fast.get_compile_config()["steps_per_execution"] == 1


def test_train_run_is_deterministic_given_the_seed():
    data = small_vectors()
    cfg = config(steps=8)
    first = predict_assignments(train_run(data, cfg, seed=3, verbose=0)[0], data)
    again = predict_assignments(train_run(data, cfg, seed=3, verbose=0)[0], data)
    np.testing.assert_array_equal(first, again)
    # (that other seeds give other runs is checked in test_protocol.py)


def test_dataset_loss_and_predict_assignments():
    data = small_vectors(n=110)  # not a multiple of the batch: the last batch is partial
    keras.utils.set_random_seed(0)
    model = build_model(config(), data)
    terms = dataset_loss(model, data, batch_size=40)
    assert set(terms) == {"loss", "l1", "l2", "l3"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in terms.values())
    probabilities = predict_assignments(model, data)
    assert probabilities.shape == (110, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, model.predict(data.x, verbose=0), atol=1e-6)


def test_evaluation_order_is_a_seeded_permutation_in_whole_batches():
    order = training.evaluation_order(110, 40)
    assert order.shape == (120,) and order.dtype == np.int64
    assert sorted(set(order.tolist())) == list(range(110))  # every point, 10 twice (padding)
    np.testing.assert_array_equal(order[110:], order[:10])
    np.testing.assert_array_equal(order, training.evaluation_order(110, 40))  # fixed
    assert not np.array_equal(order[:110], np.arange(110))  # not the stored order
    assert not np.array_equal(order, training.evaluation_order(110, 40, seed=1))
    assert training.evaluation_order(30, 40).shape == (30,)  # fewer points than a batch
    np.testing.assert_array_equal(np.sort(training.evaluation_order(120, 40)), np.arange(120))


def test_selection_loss_does_not_depend_on_the_order_the_data_is_stored_in():
    """A class-sorted and a shuffled copy of digits give the same loss and the same ranking
    of runs; batches in the stored (sorted) order would give a very different loss."""
    import dataclasses

    from ddc_tf.data import to_dataset

    data = load_arrays("digits")
    by_class = np.argsort(data.y, kind="stable")
    sorted_copy = dataclasses.replace(data, x=data.x[by_class], y=data.y[by_class])
    mixed = np.random.default_rng(5).permutation(data.n)
    shuffled_copy = dataclasses.replace(data, x=data.x[mixed], y=data.y[mixed])
    cfg = TrainConfig(n_clusters=10, backbone="mlp", steps=200, batch_size=100, learning_rate=1e-3)
    on_sorted, on_shuffled = [], []
    for seed in range(3):
        model, _ = train_run(data, cfg, seed=seed, verbose=0)
        on_sorted.append(dataset_loss(model, sorted_copy)["loss"])
        on_shuffled.append(dataset_loss(model, shuffled_copy)["loss"])
        # sampling noise of the score between two random orders is ~0.003 here
        assert on_sorted[-1] == pytest.approx(on_shuffled[-1], abs=0.02)
        stored_order = model.evaluate(
            to_dataset(sorted_copy, batch_size=100, shuffle=False, with_labels=False),
            verbose=0, return_dict=True,
        )["loss"]
        assert abs(stored_order - on_sorted[-1]) > 0.3  # what the old, stored-order score measured
    assert np.argsort(on_sorted).tolist() == np.argsort(on_shuffled).tolist()


# --------------------------------------------------------------------------- backbone choice
def test_resolve_backbone():
    assert resolve_backbone("auto", images(2, 28)) == "conv"
    assert resolve_backbone("auto", images(2, 8)) == "mlp"
    assert resolve_backbone("auto", small_vectors()) == "mlp"
    assert resolve_backbone("auto", load_arrays("digits")) == "mlp"  # 8×8 digits are vectors
    assert resolve_backbone("mlp", images(2, 28)) == "mlp"
    assert resolve_backbone("conv", images(2, 28)) == "conv"
    with pytest.raises(ValueError, match="resnet"):
        resolve_backbone("resnet", small_vectors())


def test_build_model_uses_the_resolved_backbone_and_default_learning_rates():
    conv = build_model(TrainConfig(n_clusters=3), images(2, 28))
    assert conv.backbone_name == "conv"
    assert float(conv.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    mlp = build_model(TrainConfig(n_clusters=3), small_vectors())
    assert mlp.backbone_name == "mlp"
    # budgeted runs train the MLP at 1e-3, not the paper's 1e-5 (networks.DEFAULT_LEARNING_RATES)
    assert float(mlp.optimizer.learning_rate.numpy()) == pytest.approx(1e-3)
    custom_lr = build_model(TrainConfig(n_clusters=3, learning_rate=2e-4), small_vectors())
    assert float(custom_lr.optimizer.learning_rate.numpy()) == pytest.approx(2e-4)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"steps": 0}, "steps"),
        ({"steps": -5}, "steps"),
        ({"batch_size": 1}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
    ],
)
def test_train_config_validation(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        TrainConfig(n_clusters=3, **kwargs)


def test_train_config_normalises_loss_weights_and_serialises():
    cfg = TrainConfig(n_clusters=3, loss_weights=[1, 0, 2])
    assert cfg.loss_weights == (1.0, 0.0, 2.0)
    as_dict = cfg.to_dict()
    assert as_dict["loss_weights"] == [1.0, 0.0, 2.0]
    assert as_dict["n_clusters"] == 3 and as_dict["steps"] == cfg.steps


def test_config_refuses_more_clusters_than_a_batch_holds():
    with pytest.raises(ValueError, match=r"n_clusters=150 is more than batch_size=100.*at least 150 \(batch_size=, or "
                                         r"--batch-size on the command line"):
        config(n_clusters=150, batch_size=100)
    assert config(n_clusters=100, batch_size=100).n_clusters == 100


def test_train_run_refuses_too_little_data():
    with pytest.raises(ValueError, match="clusters"):
        train_run(small_vectors(n=4), config(n_clusters=5, batch_size=5), seed=0, verbose=0)
    with pytest.raises(ValueError, match="batch"):
        train_run(small_vectors(n=30), config(batch_size=40), seed=0, verbose=0)


# --------------------------------------------------------------------------- resume
class Interrupt(RuntimeError):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Raises after ``n`` training batches, like a killed job."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen >= self.n:
            raise Interrupt(f"interrupted after {self.seen} batches")


class CountBatches(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.start_iterations = None

    def on_train_begin(self, logs=None):  # runs after BackupAndRestore has restored the state
        self.start_iterations = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.start_iterations is None:
            self.start_iterations = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_interrupted_run_resumes_from_backup(tmp_path, capsys):
    data = small_vectors()
    cfg = config(steps=30)  # logging (and backup) chunks of 3 steps
    backup = tmp_path / "backup"
    with pytest.raises(Interrupt):
        train_run(data, cfg, seed=0, verbose=0, callbacks=[InterruptAfter(14)], backup_dir=backup)
    assert backup.exists() and any(backup.iterdir()), "no backup was written before the interruption"

    capsys.readouterr()
    counter = CountBatches()
    model, history = train_run(data, cfg, seed=0, verbose=0, callbacks=[counter], backup_dir=backup)
    assert capsys.readouterr().out == ""  # verbose=0: quiet
    # 4 full chunks (12 steps) were backed up before the interruption at step 14
    assert counter.start_iterations == 12, "the resumed run did not start from the backup"
    assert counter.batches == 30 - 12
    assert int(model.optimizer.iterations.numpy()) == 30
    assert all(np.all(np.isfinite(v)) for v in history.values())


def test_a_resumed_run_says_where_it_resumed(tmp_path, capsys):
    data = small_vectors()
    cfg = config(steps=30)
    with pytest.raises(Interrupt):
        train_run(data, cfg, seed=0, verbose=0, callbacks=[InterruptAfter(14)], backup_dir=tmp_path)
    capsys.readouterr()
    train_run(data, cfg, seed=0, verbose=1, backup_dir=tmp_path)
    assert "seed 0: resumed from its backup after 12 of 30 steps" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["ddc", "ddc_neighbors", pytest.param("ot", marks=pytest.mark.slow),
                                    pytest.param("dcan", marks=pytest.mark.slow),
                                    pytest.param("ot_neighbors_pretrained", marks=pytest.mark.slow),
                                    "ddc_kmeans_start"])
def test_resumed_run_equals_the_uninterrupted_run(tmp_path, method):
    """Weights (optimizer and seed states included), the batch stream (and the neighbours drawn
    for it) and the history are all restored: the resumed run ends where the uninterrupted
    one does, with all its chunks."""
    data = small_vectors()
    kwargs = {"ddc": {"input_dropout": 0.1},  # dropout draws random masks
              "ddc_neighbors": {"neighbors": 3},
              # the DDC pretraining and the OT run on the same pairs
              "ot_neighbors_pretrained": {"method": "ot", "neighbors": 3, "pretrain_steps": 5},
              "ddc_kmeans_start": {"kmeans_init": 5},  # not redone on resume: the backup has it
              }.get(method, {"method": method})
    cfg = config(steps=30, **kwargs)
    straight, straight_history = train_run(data, cfg, seed=3, verbose=0)
    backup = tmp_path / "backup"
    with pytest.raises(Interrupt):
        train_run(data, cfg, seed=3, verbose=0, callbacks=[InterruptAfter(14)], backup_dir=backup,
                  fingerprint="run-a")
    resumed, resumed_history = train_run(data, cfg, seed=3, verbose=0, backup_dir=backup, fingerprint="run-a")
    assert {k: len(v) for k, v in resumed_history.items()} == {k: len(v) for k, v in straight_history.items()}
    for key in straight_history:
        np.testing.assert_allclose(resumed_history[key], straight_history[key], rtol=1e-5, atol=1e-6)
    for got, want in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6, err_msg=got.path)
    with pytest.raises(ValueError, match="another run"):
        train_run(data, cfg, seed=3, verbose=0, backup_dir=backup, fingerprint="run-b")


def test_clipnorm_and_cosine_schedule_reach_the_optimizer():
    data = small_vectors()
    cfg = config(steps=10, clipnorm=2.5, lr_schedule="cosine")
    model, _ = train_run(data, cfg, seed=0, verbose=0)
    assert model.optimizer.global_clipnorm == 2.5
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(schedule(0)) == pytest.approx(1e-3) and float(schedule(10)) == pytest.approx(0.0, abs=1e-12)
    # defaults leave the run signature of earlier versions unchanged
    assert "clipnorm" not in config().to_dict() and "lr_schedule" not in config().to_dict()
    assert cfg.to_dict()["clipnorm"] == 2.5 and cfg.to_dict()["lr_schedule"] == "cosine"
    with pytest.raises(ValueError, match="clipnorm"):
        config(clipnorm=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        config(lr_schedule="step")


def test_siblings_can_start_from_a_ddc_trained_backbone():
    from ddc_tf.experiments.training import build_model, pretrain_backbone

    data = small_vectors()
    with pytest.raises(ValueError, match="pretrain_steps applies"):
        config(pretrain_steps=5)
    assert config(method="ot", pretrain_steps=0).pretrain_steps is None  # 0 = from scratch, as on the CLI
    assert config(pretrain_steps=0).pretrain_steps is None  # and so allowed for DDC
    with pytest.raises(ValueError, match="pretrain_steps must be an integer ≥ 0"):
        config(method="ot", pretrain_steps=-1)
    cfg = config(method="dcan", steps=4, pretrain_steps=6)
    assert cfg.to_dict()["pretrain_steps"] == 6 and "pretrain_steps" not in config(method="dcan").to_dict()
    keras.utils.set_random_seed(2)
    model = build_model(cfg, data)
    pretrain_backbone(model, data, cfg, seed=2)
    ddc, _ = train_run(data, config(steps=6), seed=2, verbose=0)
    for got, want in zip(model.backbone.get_weights() + model.hidden_layer.get_weights(),
                         ddc.backbone.get_weights() + ddc.hidden_layer.get_weights()):
        np.testing.assert_array_equal(got, want)
    trained, history = train_run(data, cfg, seed=2, verbose=0)
    assert int(trained.optimizer.iterations.numpy()) == 4 and np.isfinite(history["loss"]).all()


def test_a_sibling_run_says_when_it_pre_trains(capsys, monkeypatch):
    """The DDC pre-training is a phase of its own; with progress shown, a run says so (alone
    and in a group), and is silent with ``verbose=0``."""
    from ddc_tf.experiments import training
    from ddc_tf.experiments.grouped import train_runs

    pretrained = []
    monkeypatch.setattr(training, "pretrain_backbone", lambda model, data, cfg, seed, nbrs, **backup: pretrained.append(seed))
    data, cfg = small_vectors(), config(method="ot", steps=1, pretrain_steps=3)
    train_run(data, cfg, seed=2, verbose=2)
    train_runs(data, cfg, [3, 4], verbose=2)
    out = capsys.readouterr().out
    assert [f"seed {s}: pre-training its backbone with DDC, 3 steps" in out for s in (2, 3, 4)] == [True] * 3
    train_run(data, cfg, seed=5, verbose=0)
    assert "pre-training" not in capsys.readouterr().out and pretrained == [2, 3, 4, 5]


def test_the_k_means_start_fits_the_network_to_a_seeded_k_means_partition():
    from ddc_tf import baselines, evaluation
    from ddc_tf.experiments.training import build_model, kmeans_start, predict_assignments

    data = small_vectors()
    with pytest.raises(ValueError, match="kmeans_init applies to method 'ddc'"):
        config(method="ot", kmeans_init=5)
    with pytest.raises(ValueError, match="kmeans_init"):
        config(kmeans_init=-1)
    assert "kmeans_init" not in config().to_dict()  # runs keep their signature without it
    cfg = config(steps=4, kmeans_init=60)
    assert cfg.to_dict()["kmeans_init"] == 60
    keras.utils.set_random_seed(2)
    model = build_model(cfg, data)
    partition = kmeans_start(model, data, cfg, seed=2)
    np.testing.assert_array_equal(partition, baselines.kmeans(data.x, cfg.n_clusters, n_init=1, seed=2))
    predicted = predict_assignments(model, data).argmax(axis=1)
    assert evaluation.nmi(partition, predicted) > 0.9  # the network now separates k-means' clusters
    # train_run starts from it: the same network as kmeans_start + train_run's own steps
    trained, history = train_run(data, cfg, seed=2, verbose=0)
    assert int(trained.optimizer.iterations.numpy()) == 4 and np.isfinite(history["loss"]).all()
    again, _ = train_run(data, cfg, seed=2, verbose=0)
    for got, want in zip(again.weights, trained.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_model_options_reach_the_constructor_and_are_checked():
    data = small_vectors()
    ot = build_model(config(method="ot", model_options={"reconstruction_weight": 0.25, "iterations": 7}), data)
    assert ot.reconstruction_weight == pytest.approx(0.25) and ot.iterations == 7
    dcan_cfg = config(method="dcan", model_options={"separation": 3.0, "discriminator_units": (32, 16)})
    assert dcan_cfg.to_dict()["model_options"] == {"separation": 3.0, "discriminator_units": [32, 16]}
    dcan = build_model(dcan_cfg, data)
    assert dcan.separation == pytest.approx(3.0)
    assert "model_options" not in config().to_dict()  # runs keep their signature without it
    with pytest.raises(ValueError, match="'rel_sigma' is not an option of method 'ot'.*TrainConfig fields"):
        config(method="ot", model_options={"rel_sigma": 0.2})
    with pytest.raises(ValueError, match="'bogus' is not an option of method 'ddc'"):
        config(model_options={"bogus": 1})
    with pytest.raises(ValueError, match="'neighbor_weight' is not an option of method 'ddc'.*TrainConfig fields"):
        config(neighbors=3, model_options={"neighbor_weight": 5.0})  # TrainConfig.neighbor_weight sets it
    with pytest.raises(ValueError, match=r"model_options\['separation'\] must be a number"):
        config(method="dcan", model_options={"separation": {"a": 1}})
    with pytest.raises(ValueError, match="must be a mapping"):
        config(method="ot", model_options=[("iterations", 3)])


def test_ddc_takes_cluster_proportions_for_its_size_aware_l2():
    data = small_vectors()
    model = training.build_model(config(proportions=(2, 1, 1)), data)
    assert model.proportions == pytest.approx((0.5, 0.25, 0.25))
    assert training.build_model(config(), data).proportions is None
    # a run's signature names its proportions, so a folder of uniform runs is not reused
    assert config(proportions=(2, 1, 1)).to_dict()["proportions"] == [2.0, 1.0, 1.0]
    assert "proportions" not in config().to_dict()  # uniform: the signature runs had before
    with pytest.raises(ValueError, match="is for method 'ot'; method 'ddc' takes 'uniform' or 3 numbers"):
        config(proportions=None)  # free sizes: OT only


def test_an_interrupted_pretraining_resumes_from_its_own_backup(tmp_path, monkeypatch):
    """OT's DDC pre-training is backed up inside the run's backup: an interruption during it
    loses at most a chunk, and the resumed run ends where the uninterrupted one does."""
    data = small_vectors()
    cfg = config(steps=4, method="ot", pretrain_steps=10)  # pre-training chunks of 1 step
    straight, _ = train_run(data, cfg, seed=3, verbose=0)
    backup = tmp_path / "backup"
    real_end, real_restore = ChunkCheckpoint.on_epoch_end, ChunkCheckpoint.restore
    saved = []

    def end_then_interrupt(self, epoch, logs=None):
        real_end(self, epoch, logs)
        saved.append(self.backup_dir.name)
        if len(saved) == 4:
            raise Interrupt("during the pre-training")

    monkeypatch.setattr(ChunkCheckpoint, "on_epoch_end", end_then_interrupt)
    with pytest.raises(Interrupt):
        train_run(data, cfg, seed=3, verbose=0, backup_dir=backup, fingerprint="run-a")
    assert saved == ["pretrain_seed_3"] * 4  # of its 10
    monkeypatch.setattr(ChunkCheckpoint, "on_epoch_end", real_end)
    restored = []
    monkeypatch.setattr(ChunkCheckpoint, "restore",
                        lambda self, model: restored.append((self.backup_dir.name, real_restore(self, model))) or restored[-1][1])
    resumed, _ = train_run(data, cfg, seed=3, verbose=0, backup_dir=backup, fingerprint="run-a")
    assert restored == [("backup", 0), ("pretrain_seed_3", 4)]
    for got, want in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6, err_msg=got.path)
