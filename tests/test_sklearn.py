"""``ddc_tf.sklearn.DDCClustering``: scikit-learn's clustering API and its estimator checks.

The full ``check_estimator`` run (50 checks, about 2½ minutes here: every check trains
networks) passes but for the checks listed in ``EXPECTED_FAILURES``, which do not apply:
``python benchmarks/sklearn_checks.py`` runs them all and writes
``benchmarks/results/sklearn_checks.json``. The suite runs the checks a clustering user
relies on (``CHECKS``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.utils.estimator_checks import parametrize_with_checks

import ddc_tf.sklearn
from ddc_tf.evaluation import accuracy
from ddc_tf.sklearn import DDCClustering

#: Checks that do not apply, with the reason (passed to scikit-learn, which then expects them to fail).
EXPECTED_FAILURES = {
    "check_dont_overwrite_parameters": "sets n_clusters=1; DDC needs at least 2 clusters",
    "check_methods_subset_invariance": "sets n_clusters=1; DDC needs at least 2 clusters",
    "check_fit2d_1feature": "sets n_clusters=1; DDC needs at least 2 clusters",
    "check_fit2d_predict1d": "sets n_clusters=1; DDC needs at least 2 clusters",
    "check_estimator_sparse_array": "reads classifier tags because predict_proba exists (soft assignments)",
    "check_estimator_sparse_matrix": "reads classifier tags because predict_proba exists (soft assignments)",
}
#: The checks the suite runs (the rest of the 50 take minutes and are covered by the note).
CHECKS = {
    "check_estimators_fit_returns_self",
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_clustering",
    "check_clusterer_compute_labels_predict",
    "check_fit2d_1sample",
    "check_fit1d",
    "check_n_features_in",
    "check_estimators_unfitted",
    "check_fit_check_is_fitted",
    "check_get_params_invariance",
    "check_set_params",
    "check_dict_unchanged",
}


def _name(check) -> str:
    return getattr(check, "func", check).__name__


@pytest.mark.slow
@parametrize_with_checks(
    [DDCClustering(n_clusters=2, runs=1, steps=3, batch_size=20, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
    if _name(check) not in CHECKS or "readonly_memmap=True" in repr(check):
        pytest.skip("not in the suite's subset (see CHECKS)")
    check(estimator)


def _blobs(n=300, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return (rng.normal(scale=5.0, size=(k, d))[y] + rng.normal(size=(n, d))).astype(np.float64), y


def test_fit_predict_transform_on_separable_blobs():
    x, y = _blobs()
    est = DDCClustering(n_clusters=3, runs=1, steps=300, batch_size=100, random_state=0)
    labels = est.fit_predict(x)
    assert labels.shape == (300,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, est.labels_)
    assert accuracy(y, labels) > 0.9
    np.testing.assert_array_equal(est.predict(x), labels)
    proba = est.predict_proba(x[:7])
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert est.transform(x[:7]).shape == (7, 500) and est.n_features_in_ == 5
    assert np.isfinite(est.loss_)



def test_balance_weight_reaches_the_model_beside_the_neighbour_term():
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    est = DDCClustering(n_clusters=3, runs=1, steps=2, batch_size=30, balance_weight=0.5).fit(x)
    assert est.model_.balance_weight == 0.5 and est.model_.neighbor_weight == 1.0
    with pytest.raises(ValueError, match="balance_weight applies to method 'ddc'"):
        DDCClustering(n_clusters=3, steps=2, batch_size=30, method="ot", balance_weight=0.5).fit(x)
    # without the neighbour term it would train nothing: refused, as the CLI refuses it
    with pytest.raises(ValueError, match=r"balance_weight=0.5 weighs the balance term, which trains beside the "
                                         r"neighbour term, off here \(neighbors=0"):
        DDCClustering(n_clusters=3, steps=2, batch_size=30, neighbors=0, balance_weight=0.5).fit(x)


@pytest.mark.parametrize("runs, options", [(1, {"refine_runs": 3}), (2, {"refine_runs": 1}),
                                           (1, {"distill_steps": 50}), (2, {"distill_steps": 50}),
                                           (2, {"selector": "ensemble"})])
def test_what_needs_the_runs_consensus_is_refused_with_fewer_than_three_runs(runs, options):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"{name}=.* (works on the consensus of the runs|ranks runs by their "
                                         rf"agreement with DDC-ENSEMBLE).* needs runs ≥ 3"):
        DDCClustering(n_clusters=3, steps=2, batch_size=30, runs=runs, **options).fit(x)


def test_the_consensus_defaults_are_not_requests_with_one_run():
    """The defaults of distill_steps and selector, and refine_runs=0, are not requests for what
    needs three runs: one run (given as the float 1.0) trains as before."""
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    assert DDCClustering(n_clusters=3, steps=2, batch_size=30, runs=1.0, refine_runs=0).fit(x).results_ is None


def test_proportions_reach_the_size_aware_l2():
    x, _ = _blobs(n=60)
    est = DDCClustering(n_clusters=3, runs=1, steps=2, batch_size=30, proportions=np.array([3, 2, 1]), neighbors=0).fit(x)
    assert est.model_.proportions == pytest.approx((0.5, 1 / 3, 1 / 6))


def test_sparse_input_several_runs_and_images():
    x, _ = _blobs(n=120, d=6)
    x[np.abs(x) < 1] = 0
    # one refined run (the default's 3 reach the protocol: test_the_defaults_are_the_clis_protocol)
    est = DDCClustering(n_clusters=3, steps=4, batch_size=40, runs=3, random_state=1, refine_runs=1,
                        distill_steps=20).fit(scipy.sparse.csr_matrix(x))
    assert est.results_["selector"] == "consensus" and len(est.results_["runs"]) == 3 + 1
    assert [r["refined"] for r in est.results_["runs"]] == [False] * 3 + [True]
    assert est.predict(scipy.sparse.csc_matrix(x)).shape == (120,)
    # three runs: the chosen network is distilled on their consensus (the CLI's default)
    assert est.results_["distilled"]["steps"] == est.distill_steps > 0
    np.testing.assert_array_equal(est.labels_, est.predict(scipy.sparse.csr_matrix(x)))
    assert est.results_["distilled"]["acc"] is None  # no labels given
    images = np.random.default_rng(0).uniform(size=(40, 16 * 16)).astype(np.float32)
    est = DDCClustering(n_clusters=2, runs=1, image_shape=(16, 16, 1), steps=3, batch_size=20).fit(images)
    assert est.model_.backbone_name == "conv"
    with pytest.raises(ValueError, match="image_shape"):
        DDCClustering(n_clusters=2, image_shape=(8, 8, 1), steps=2).fit(images)


def test_runs_must_be_a_whole_number_of_at_least_one():
    x, _ = _blobs(n=60)
    for runs in (0, -4, 1.5, True):
        with pytest.raises(ValueError, match="runs="):
            DDCClustering(n_clusters=3, runs=runs, steps=2).fit(x)


@pytest.mark.parametrize("steps", [float("inf"), float("nan"), None, 2.5, 0])
def test_steps_must_be_a_whole_number_named_as_such(steps):
    x, _ = _blobs(n=60)
    with pytest.raises(ValueError, match=r"steps=.*: need a whole number ≥ 1"):
        DDCClustering(n_clusters=3, runs=1, steps=steps).fit(x)


def test_a_whole_float_of_steps_sets_the_siblings_pretraining_as_an_integer():
    from ddc_tf.data import ArrayData

    data = ArrayData(x=np.zeros((60, 4), np.float32), y=None, name="X", kind="vector", raw_dtype="float32", scale=1.0)
    assert DDCClustering(n_clusters=3, method="ot", steps=10.0)._config(data).pretrain_steps == 10


def test_random_state_leaves_room_for_every_runs_seed():
    x, _ = _blobs(n=60)
    with pytest.raises(ValueError, match=r"random_state=4294967295 and the next 1 .* 32-bit"):
        DDCClustering(n_clusters=3, runs=2, runs_at_once=1, steps=2, random_state=2**32 - 1).fit(x)


def test_a_refit_that_fails_leaves_no_earlier_fit_behind():
    from sklearn.exceptions import NotFittedError

    x, _ = _blobs(n=60, d=4)
    est = DDCClustering(n_clusters=3, runs=1, steps=2, batch_size=30).fit(x)
    est.set_params(n_clusters=100)
    with pytest.raises(ValueError, match="n_clusters=100"):
        est.fit(x[:, :3])
    with pytest.raises(NotFittedError):
        est.predict(x[:, :3])


def test_sparse_input_with_duplicate_entries_is_left_as_given():
    dense = np.abs(_blobs(n=60, d=4)[0]).astype(np.float32)
    coo = scipy.sparse.coo_matrix(dense)
    doubled = scipy.sparse.coo_matrix((np.r_[coo.data, coo.data] / 2, (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])),
                                      shape=dense.shape).tocsr()
    indptr, nnz = doubled.indptr.copy(), doubled.nnz
    DDCClustering(n_clusters=3, runs=1, steps=2, batch_size=30, neighbors=0).fit(doubled)
    np.testing.assert_array_equal(doubled.indptr, indptr)
    assert doubled.nnz == nnz


class _ProtocolAsked(Exception):
    """Raised by the stub protocol once it has recorded what the estimator asked of it."""


@pytest.fixture
def protocol_asked(monkeypatch) -> dict:
    """What ``fit`` asks of ``run_protocol`` (its keyword arguments and ``config.steps``), filled in
    when a fit reaches the protocol; the stub then raises ``_ProtocolAsked`` (no training)."""
    asked = {}

    def protocol(data, config, **options):
        asked.update(options, steps=config.steps)
        raise _ProtocolAsked

    monkeypatch.setattr(ddc_tf.sklearn, "run_protocol", protocol)
    return asked


def test_the_defaults_are_the_clis_protocol(protocol_asked):
    """DDCClustering() trains what `ddc-tf fit` trains: 10 runs of 3 000 steps at batch 100,
    4 at a time, with its refined runs and distillation (one run clusters digits below k-means++)."""
    from ddc_tf.experiments.presets import FIT_DEFAULTS
    from ddc_tf.options import DEFAULT_DISTILL_STEPS, DEFAULT_REFINE_RUNS, DEFAULT_RUNS_AT_ONCE

    params = DDCClustering().get_params()
    assert {k: params[k] for k in ("runs", "steps", "batch_size")} == \
        {k: FIT_DEFAULTS[k] for k in ("runs", "steps", "batch_size")} == {"runs": 10, "steps": 3000, "batch_size": 100}
    with pytest.raises(_ProtocolAsked):
        DDCClustering(n_clusters=3).fit(_blobs(n=300)[0])
    assert {k: protocol_asked[k] for k in ("runs", "steps", "runs_at_once", "refine_runs", "distill_steps")} == {
        "runs": 10, "steps": 3000, "runs_at_once": DEFAULT_RUNS_AT_ONCE, "refine_runs": DEFAULT_REFINE_RUNS,
        "distill_steps": DEFAULT_DISTILL_STEPS}


@pytest.mark.parametrize("runs, runs_at_once, expected", [(3, None, 3), (10, None, 4), (10, 1, 1), (10, 10, 10)])
def test_runs_are_trained_together_as_the_cli_trains_them(protocol_asked, runs, runs_at_once, expected):
    x, _ = _blobs(n=60)
    with pytest.raises(_ProtocolAsked):
        DDCClustering(n_clusters=3, runs=runs, runs_at_once=runs_at_once, steps=2, batch_size=30).fit(x)
    assert protocol_asked["runs"] == runs and protocol_asked["runs_at_once"] == expected


@pytest.mark.parametrize("runs_at_once, message", [(0, "runs_at_once must be a positive integer"),
                                                   (2.5, "runs_at_once must be a positive integer"),
                                                   (True, "runs_at_once must be a positive integer"),
                                                   (4, r"runs_at_once=4 trains more runs together than there "
                                                       r"are \(runs=3\)")])
def test_runs_at_once_is_refused_before_training(runs_at_once, message):
    x, _ = _blobs(n=60)
    with pytest.raises(ValueError, match=message):
        DDCClustering(n_clusters=3, runs=3, runs_at_once=runs_at_once, steps=2, batch_size=30).fit(x)


def test_a_fitted_estimator_pickles_with_its_network():
    """``pickle`` / ``joblib.dump`` keep the trained network: the copy predicts as the original."""
    import pickle

    x, _ = _blobs(n=90)
    est = DDCClustering(n_clusters=3, runs=1, steps=3, batch_size=30, random_state=0).fit(x)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(copy.predict_proba(x), est.predict_proba(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(copy.labels_, est.labels_)
    assert copy.get_params() == est.get_params() and copy.loss_ == est.loss_


def test_a_fit_interrupted_with_an_out_dir_continues_where_it_stopped(tmp_path, monkeypatch):
    """With ``out_dir`` a Ctrl-C mid-run loses at most a chunk: fit again on the same X and the run
    resumes from its backup, ending with the labels of a fit never interrupted."""
    from ddc_tf.experiments.resume import ChunkCheckpoint

    x, _ = _blobs(n=120)
    options = dict(n_clusters=3, runs=1, steps=20, batch_size=40, random_state=3)
    uninterrupted = DDCClustering(**options).fit(x)
    save_chunk = ChunkCheckpoint.on_epoch_end

    def ctrl_c_after_chunk_4(self, epoch, logs=None):
        save_chunk(self, epoch, logs)
        if epoch + 1 == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(ChunkCheckpoint, "on_epoch_end", ctrl_c_after_chunk_4)
    with pytest.raises(KeyboardInterrupt):
        DDCClustering(**options, out_dir=tmp_path / "fit").fit(x)
    chunks = []

    def counting(self, epoch, logs=None):
        chunks.append(epoch + 1)
        save_chunk(self, epoch, logs)

    monkeypatch.setattr(ChunkCheckpoint, "on_epoch_end", counting)
    resumed = DDCClustering(**options, out_dir=tmp_path / "fit").fit(x)
    assert chunks == [5, 6, 7, 8, 9, 10]  # 20 steps in chunks of 2: it went on after chunk 4
    np.testing.assert_array_equal(resumed.labels_, uninterrupted.labels_)
    assert resumed.loss_ == pytest.approx(uninterrupted.loss_, rel=1e-5)
    assert (tmp_path / "fit" / "model.keras").is_file() and (tmp_path / "fit" / "results.json").is_file()
    assert len(resumed.results_["runs"]) == 1


def test_finished_runs_in_the_out_dir_are_reused(tmp_path, monkeypatch):
    """A second fit on the same X trains none of the runs the folder holds (here: all of them, and
    three of four when more runs are asked for) and gives the first fit's clusters."""
    import ddc_tf.experiments.protocol as protocol

    x, _ = _blobs(n=120)
    options = dict(n_clusters=3, steps=10, batch_size=40, refine_runs=0, distill_steps=0, random_state=5,
                   out_dir=tmp_path)  # no distillation: the runs are what is reused (test_distill: the distilled model)
    first = DDCClustering(runs=3, **options).fit(x)
    trained = []
    train_group = protocol.train_runs

    def counting(data, config, seeds, **kwargs):
        trained.extend(seeds)
        return train_group(data, config, seeds, **kwargs)

    monkeypatch.setattr(protocol, "train_runs", counting)
    again = DDCClustering(runs=3, **options).fit(x)
    assert trained == []
    np.testing.assert_array_equal(again.labels_, first.labels_)
    assert DDCClustering(runs=4, **options).fit(x).results_["runs"][3]["seed"] == 8 and trained == [8]
    # another X, or other settings, are refused, not written over the folder's runs
    with pytest.raises(ValueError, match="holds a run trained on other data"):
        DDCClustering(runs=3, **options).fit(x + 1)
    with pytest.raises(ValueError, match="holds a run of a different configuration"):
        DDCClustering(runs=3, **{**options, "steps": 11}).fit(x)
    assert trained == [8]
    with pytest.raises(ValueError, match="out_dir resumes and reuses runs by their seeds.* give random_state an int"):
        DDCClustering(runs=3, **{**options, "random_state": np.random.RandomState(0)}).fit(x)


def test_thread_pools_runs_sizes_them_for_mlp_groups_and_says_when_it_cannot(monkeypatch, protocol_asked):
    """``thread_pools="runs"`` asks for one thread per op when MLP runs train together, as
    ``ddc-tf fit`` does; here the runtime has started (conftest), so the pools stay and a
    warning says why. The default, one run at a time and the CNN leave them alone."""
    import ddc_tf.sklearn as estimator_module

    x, _ = _blobs(n=60)
    images = np.random.default_rng(0).uniform(size=(60, 16 * 16)).astype(np.float32)
    asked = []
    reason = [estimator_module.RUNTIME_STARTED]
    monkeypatch.setattr(estimator_module, "size_pools_side_by_side", lambda: asked.append(True) or reason[0])
    for options, data in (({}, x), ({"thread_pools": "runs", "runs_at_once": 1}, x),
                          ({"thread_pools": "runs", "image_shape": (16, 16)}, images)):
        with pytest.raises(_ProtocolAsked):
            DDCClustering(n_clusters=3, runs=3, steps=2, batch_size=30, **options).fit(data)
    assert asked == []
    with pytest.warns(UserWarning, match=r"thread_pools='runs': TensorFlow's thread pools stay as they are: "
                                         r"TensorFlow's runtime had started before"):
        with pytest.raises(_ProtocolAsked):
            DDCClustering(n_clusters=3, runs=3, steps=2, batch_size=30, thread_pools="runs").fit(x)
    assert asked == [True]
    reason[0] = "TF_NUM_INTRAOP_THREADS is set, and chose them"  # the user's choice: kept without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(_ProtocolAsked):
            DDCClustering(n_clusters=3, runs=3, steps=2, batch_size=30, thread_pools="runs").fit(x)
    with pytest.raises(ValueError, match=r"thread_pools='all'; expected one of \('tensorflow', 'runs'\)"):
        DDCClustering(n_clusters=3, runs=3, thread_pools="all").fit(x)
    # what the protocol would refuse is refused before the process's pools are sized
    for bad in ({"refine_runs": -1}, {"distill_steps": 2.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            DDCClustering(n_clusters=3, runs=3, steps=2, batch_size=30, thread_pools="runs", **bad).fit(x)
    assert asked == [True, True]


@pytest.mark.slow  # 41 s; the siblings' default-suite path is `ddc-tf fit --method dcan` (test_adversarial)
def test_sibling_methods_through_the_estimator():
    x, _ = _blobs(n=120)
    for method in ("ot", "dcan"):
        est = DDCClustering(n_clusters=3, runs=1, method=method, steps=5, batch_size=40).fit(x)
        assert type(est.model_).METHOD == method and est.labels_.shape == (120,)
    with pytest.raises(ValueError, match="method"):
        DDCClustering(method="nope").fit(x)
