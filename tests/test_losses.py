"""ddc_tf.losses against the independent float64 NumPy reference (tests/reference_ddc.py).

Tolerances: values agree to relative error < 1e-4 (with an absolute floor of 1e-7, about
one float32 ulp of an O(1) number, for terms that are themselves ~0); gradients agree
with float64 central differences of the reference (bandwidth held fixed) to < 1e-3.
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from ddc_tf.losses import ddc as L

try:  # tests/ may or may not be a package
    from tests import reference_ddc as ref
except ImportError:  # pragma: no cover
    import reference_ddc as ref

MODES = ("reference", "paper")
RTOL = 1e-4
ATOL = 1e-7
GRAD_RTOL = 1e-3
TERMS = ("l1", "l2", "l3", "total")


# ----------------------------------------------------------------------------- helpers
def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    a = _np(actual)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    assert np.all(np.isfinite(a)), f"{what}: non-finite {a}"
    err = np.abs(a - e)
    bound = rtol * np.abs(e) + atol
    bad = err > bound
    assert not bad.any(), (
        f"{what}: max abs err {err.max():.3e}, worst actual {a[bad].ravel()[:5]} "
        f"expected {e[bad].ravel()[:5]} (rtol={rtol}, atol={atol})")


def rel_norm_err(actual, expected):
    a, e = _np(actual), np.asarray(expected, dtype=np.float64)
    return float(np.linalg.norm(a - e) / max(np.linalg.norm(e), 1e-30))


def make_inputs(m, k, d, seed, sharp=False, clustered=False):
    rng = np.random.default_rng(seed)
    if clustered:
        centers = 3.0 * rng.standard_normal((k, d))
        labels = rng.integers(0, k, size=m)
        h = centers[labels] + 0.5 * rng.standard_normal((m, d))
    else:
        h = rng.standard_normal((m, d))
    logits = rng.standard_normal((m, k)) * (8.0 if sharp else 1.0)
    h32 = h.astype(np.float32)
    a32 = ref.softmax(logits).astype(np.float32)
    # the reference sees exactly the float32 numbers the TF code sees
    return h32, a32, logits


def check_terms(out, expected, weights_nonzero=(True, True, True), what=""):
    assert set(out) >= set(TERMS), f"{what}: keys {sorted(out)}"
    for name in TERMS:
        assert out[name].dtype == tf.float32, f"{what}: {name} dtype {out[name].dtype}"
        assert out[name].shape.rank == 0, f"{what}: {name} not scalar"
        assert_close(out[name], expected[name], what=f"{what} {name}")


# ------------------------------------------------------------------- module constants
def test_constants_and_default_mode():
    assert 0 < L.EPS_SIGMA <= 1e-6
    assert set(L.SIGMA_MODES) == set(MODES)
    sig = inspect.signature(L.ddc_loss)
    assert sig.parameters["sigma_mode"].default == L.DEFAULT_SIGMA_MODE
    assert sig.parameters["rel_sigma"].default == 0.15
    assert tuple(sig.parameters["weights"].default) == (1.0, 1.0, 1.0)
    assert L.DEFAULT_SIGMA_MODE in MODES
    h, a, _ = make_inputs(20, 3, 5, seed=0)
    default = L.ddc_loss(h, a)
    explicit = L.ddc_loss(h, a, sigma_mode=L.DEFAULT_SIGMA_MODE)
    expected = ref.ddc_loss(h, a, sigma_mode=L.DEFAULT_SIGMA_MODE, eps=L.EPS_SIGMA)
    for name in TERMS:
        assert float(default[name]) == float(explicit[name])
    check_terms(default, expected, what="default mode")


def test_unknown_sigma_mode_raises():
    h, a, _ = make_inputs(5, 2, 3, seed=1)
    with pytest.raises(ValueError):
        L.ddc_loss(h, a, sigma_mode="median")
    with pytest.raises(ValueError):
        L.bandwidth_sq(L.pairwise_sq_dists(h), sigma_mode="bogus")


# ------------------------------------------------------------------ helper functions
# m(m-1)/2 pairs: m=2 -> 1, 3 -> 3, 4 -> 6 (even), 5 -> 10 (even), 7 -> 21,
# 64 -> 2016 (even), 100 -> 4950 (even), 257 -> 32896 (even); 6 -> 15 (odd)
SHAPES = [(2, 2, 2), (3, 3, 50), (4, 3, 2), (5, 2, 50), (6, 10, 2), (7, 10, 100),
          (64, 3, 50), (100, 10, 100), (257, 2, 2), (257, 10, 100)]


@pytest.mark.parametrize("m,k,d", SHAPES)
def test_pairwise_sq_dists(m, k, d):
    h, _, _ = make_inputs(m, k, d, seed=m * 7 + d)
    got = L.pairwise_sq_dists(h)
    assert got.dtype == tf.float32 and tuple(got.shape) == (m, m)
    want = ref.pairwise_sq_dists(h)
    g = _np(got)
    assert np.all(g >= 0.0)
    assert np.all(np.diag(g) == 0.0)
    # the matmul form has absolute round-off ~ eps32 * |h|^2; judge relative to the scale
    scale = np.abs(want).max()
    assert np.abs(g - want).max() <= RTOL * scale
    assert rel_norm_err(g, want) < RTOL


def test_pairwise_sq_dists_clipped_with_large_offset():
    rng = np.random.default_rng(3)
    base = rng.standard_normal(30) * 100.0 + 1000.0
    h = (base[None, :] + 1e-3 * rng.standard_normal((12, 30))).astype(np.float32)
    h[5] = h[4]  # an exact duplicate
    g = _np(L.pairwise_sq_dists(h))
    assert np.all(g >= 0.0), g.min()
    assert np.all(np.diag(g) == 0.0)
    assert np.allclose(g, g.T)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("m,k,d", SHAPES)
def test_bandwidth_sq(mode, m, k, d):
    h, _, _ = make_inputs(m, k, d, seed=m * 11 + d)
    want = ref.bandwidth_sq(ref.pairwise_sq_dists(h), 0.15, mode, L.EPS_SIGMA)
    # end to end from the TF distances
    got = L.bandwidth_sq(L.pairwise_sq_dists(h), rel_sigma=0.15, sigma_mode=mode)
    assert got.dtype == tf.float32 and got.shape.rank == 0
    assert_close(got, want, what=f"sigma^2 {mode} m={m}")
    # isolated from distance round-off: feed the exact distances
    d32 = ref.pairwise_sq_dists(h).astype(np.float32)
    want32 = ref.bandwidth_sq(d32, 0.15, mode, L.EPS_SIGMA)
    assert_close(L.bandwidth_sq(tf.constant(d32), 0.15, mode), want32, rtol=1e-6, atol=0,
                 what=f"sigma^2 exact-D {mode} m={m}")


def test_bandwidth_median_hand_checked_even_pairs():
    # points 0, 1, 3, 7 on a line: distances 1,2,3,4,6,7 (6 pairs, even count)
    h = np.array([[0.0], [1.0], [3.0], [7.0]], dtype=np.float32)
    dsq = L.pairwise_sq_dists(h)
    # reference: 0.15 * median(1,4,9,16,36,49) = 0.15 * (9 + 16) / 2 = 1.875
    assert_close(L.bandwidth_sq(dsq, 0.15, "reference"), 1.875, rtol=1e-6, atol=0)
    # paper: (0.15 * median(1,2,3,4,6,7))^2 = (0.15 * 3.5)^2 = 0.275625
    # (not (0.15)^2 * median(D) = 0.28125, not a lower/upper median)
    assert_close(L.bandwidth_sq(dsq, 0.15, "paper"), 0.275625, rtol=1e-6, atol=0)
    assert_close(L.bandwidth_sq(dsq, 0.5, "reference"), 6.25, rtol=1e-6, atol=0)


def test_bandwidth_median_hand_checked_odd_pairs():
    # points 0, 1, 3: distances 1, 2, 3 (3 pairs, odd count)
    h = np.array([[0.0], [1.0], [3.0]], dtype=np.float32)
    dsq = L.pairwise_sq_dists(h)
    assert_close(L.bandwidth_sq(dsq, 0.15, "reference"), 0.15 * 4.0, rtol=1e-6, atol=0)
    assert_close(L.bandwidth_sq(dsq, 0.15, "paper"), (0.15 * 2.0) ** 2, rtol=1e-6, atol=0)


@pytest.mark.parametrize("m", [2, 3, 4, 5, 6, 7, 64, 65])
def test_upper_triangle_median(m):
    rng = np.random.default_rng(m)
    x = rng.random((m, m)).astype(np.float32)
    want = np.median(x.astype(np.float64)[np.triu_indices(m, 1)])
    assert_close(L.upper_triangle_median(x), want, rtol=1e-6, atol=0, what=f"median m={m}")


@pytest.mark.parametrize("mode", MODES)
def test_bandwidth_floor_identical_points(mode):
    h = np.tile(np.array([[0.3, -1.2, 2.5]], dtype=np.float32), (6, 1))
    got = L.bandwidth_sq(L.pairwise_sq_dists(h), 0.15, mode)
    assert float(got) == pytest.approx(L.EPS_SIGMA, rel=1e-6)
    assert_close(L.bandwidth_sq(tf.zeros([4, 4]), 0.15, mode), L.EPS_SIGMA, rtol=1e-6, atol=0)
    assert_close(L.bandwidth_sq(tf.zeros([4, 4]), 0.15, mode, eps=1e-4), 1e-4, rtol=1e-6,
                 atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_bandwidth_has_no_gradient(mode):
    h32, _, _ = make_inputs(9, 3, 4, seed=5)
    h = tf.Variable(h32)
    with tf.GradientTape() as tape:
        s2 = L.bandwidth_sq(L.pairwise_sq_dists(h), 0.15, mode)
    g = tape.gradient(s2, h)
    assert g is None or np.all(_np(g) == 0.0), g
    assert float(s2) > 0


@pytest.mark.parametrize("m,k,d", SHAPES)
def test_gaussian_kernel(m, k, d):
    h, _, _ = make_inputs(m, k, d, seed=m + 3 * d)
    dsq = ref.pairwise_sq_dists(h)
    s2 = ref.bandwidth_sq(dsq, 0.15, "reference")
    got = L.gaussian_kernel(tf.constant(dsq, tf.float32), tf.constant(s2, tf.float32))
    assert got.dtype == tf.float32
    want = ref.gaussian_kernel(dsq.astype(np.float32), np.float32(s2))
    assert_close(got, want, rtol=1e-5, atol=1e-30, what="kernel")


@pytest.mark.parametrize("sharp", [False, True])
@pytest.mark.parametrize("m,k,d", SHAPES)
def test_cauchy_schwarz_and_corner_affinity(m, k, d, sharp):
    h, a, _ = make_inputs(m, k, d, seed=m + 5 * k + d, sharp=sharp)
    dsq = ref.pairwise_sq_dists(h)
    kern = ref.gaussian_kernel(dsq, ref.bandwidth_sq(dsq, 0.15, "reference")).astype(np.float32)
    assert_close(L.cauchy_schwarz(a, kern), ref.cauchy_schwarz(a, kern), what="d_cs(A)")
    mm = L.simplex_corner_affinity(a)
    assert mm.dtype == tf.float32 and tuple(mm.shape) == (m, k)
    assert_close(mm, ref.simplex_corner_affinity(a), rtol=1e-5, atol=1e-7, what="M")
    m32 = ref.simplex_corner_affinity(a).astype(np.float32)
    assert_close(L.cauchy_schwarz(m32, kern), ref.cauchy_schwarz(m32, kern), what="d_cs(M)")
    assert_close(L.orthogonality(a), ref.orthogonality(a), what="l2")


# ------------------------------------------------------------------------ full loss
@pytest.mark.parametrize("sharp", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("m,k,d", SHAPES)
def test_ddc_loss_matches_reference(m, k, d, mode, sharp):
    h, a, _ = make_inputs(m, k, d, seed=1000 + m * 13 + k * 7 + d, sharp=sharp)
    out = L.ddc_loss(h, a, sigma_mode=mode)
    want = ref.ddc_loss(h, a, sigma_mode=mode, eps=L.EPS_SIGMA)
    check_terms(out, want, what=f"m={m} k={k} d={d} {mode} sharp={sharp}")


WEIGHTS = [(1.0, 1.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0),
           (1.0, 1.0, 0.0), (1.0, 0.0, 1.0), (0.0, 1.0, 1.0), (0.5, 2.0, 0.25)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("weights", WEIGHTS)
def test_ddc_loss_weights_and_ablation(weights, mode):
    h, a, _ = make_inputs(64, 3, 50, seed=77, clustered=True)
    out = L.ddc_loss(h, a, sigma_mode=mode, weights=weights)
    want = ref.ddc_loss(h, a, sigma_mode=mode, weights=weights, eps=L.EPS_SIGMA)
    # switched-off terms are still computed and reported (documented)
    check_terms(out, want, what=f"weights={weights} {mode}")


def test_ddc_loss_rel_sigma():
    h, a, _ = make_inputs(30, 4, 8, seed=8)
    for rs in (0.05, 0.5, 2.0):
        for mode in MODES:
            out = L.ddc_loss(h, a, rel_sigma=rs, sigma_mode=mode)
            want = ref.ddc_loss(h, a, rel_sigma=rs, sigma_mode=mode, eps=L.EPS_SIGMA)
            check_terms(out, want, what=f"rel_sigma={rs} {mode}")


def test_switched_off_kernel_terms_give_no_hidden_gradient():
    h32, a, _ = make_inputs(10, 3, 4, seed=9)
    h = tf.Variable(h32)
    with tf.GradientTape() as tape:
        total = L.ddc_loss(h, a, weights=(0.0, 1.0, 0.0))["total"]
    g = tape.gradient(total, h)
    assert g is None or np.all(_np(g) == 0.0)


# ------------------------------------------------------------------------- gradients
GRAD_CASES = [(6, "reference", (1.0, 1.0, 1.0)), (9, "paper", (1.0, 1.0, 1.0)),
              (8, "reference", (1.0, 0.0, 1.0)), (10, "paper", (0.5, 2.0, 0.25)),
              (7, "reference", (0.0, 0.0, 1.0))]


def _tf_grads(h32, logits, mode, weights):
    h = tf.Variable(h32)
    z = tf.Variable(logits.astype(np.float32))
    with tf.GradientTape() as tape:
        total = L.ddc_loss(h, tf.nn.softmax(z), sigma_mode=mode, weights=weights)["total"]
    gh, gz = tape.gradient(total, [h, z])
    return _np(gh), _np(gz), z.numpy().astype(np.float64)


@pytest.mark.parametrize("m,mode,weights", GRAD_CASES)
def test_gradients_match_finite_differences(m, mode, weights):
    h32, _, logits = make_inputs(m, 3, 4, seed=200 + m, clustered=True)
    gh, gz, z64 = _tf_grads(h32, logits, mode, weights)
    h64 = h32.astype(np.float64)
    s2 = ref.bandwidth_sq(ref.pairwise_sq_dists(h64), 0.15, mode, L.EPS_SIGMA)  # held fixed

    def f_h(hh):
        return ref.ddc_loss(hh, ref.softmax(z64), weights=weights, sigma_sq=s2)["total"]

    def f_z(zz):
        return ref.ddc_loss(h64, ref.softmax(zz), weights=weights, sigma_sq=s2)["total"]

    fd_h = ref.central_difference(f_h, h64, step=1e-6)
    fd_z = ref.central_difference(f_z, z64, step=1e-6)
    assert np.linalg.norm(fd_h) > 1e-4 or weights[0] == weights[2] == 0.0
    assert np.linalg.norm(fd_z) > 1e-4
    e_h, e_z = rel_norm_err(gh, fd_h), rel_norm_err(gz, fd_z)
    assert e_h < GRAD_RTOL, f"d total/d hidden rel err {e_h:.2e}\nTF {gh}\nFD {fd_h}"
    assert e_z < GRAD_RTOL, f"d total/d logits rel err {e_z:.2e}\nTF {gz}\nFD {fd_z}"
    # elementwise too, relative to the gradient's scale
    assert np.abs(gh - fd_h).max() <= GRAD_RTOL * np.abs(fd_h).max() + 1e-7
    assert np.abs(gz - fd_z).max() <= GRAD_RTOL * np.abs(fd_z).max() + 1e-7


PROPORTIONS = (0.55, 0.3, 0.15)


@pytest.mark.parametrize("m", [2, 7, 40])
def test_size_aware_orthogonality_matches_reference(m):
    _, a, _ = make_inputs(m, 3, 4, seed=300 + m)
    assert_close(L.orthogonality(a, PROPORTIONS), ref.orthogonality(a, PROPORTIONS), what="weighted l2")
    # uniform proportions are the paper's term
    assert_close(L.orthogonality(a, (1 / 3, 1 / 3, 1 / 3)), ref.orthogonality(a), what="uniform l2")
    terms = L.ddc_loss(make_inputs(m, 3, 4, seed=300 + m)[0], a, proportions=PROPORTIONS)
    expected = ref.ddc_loss(make_inputs(m, 3, 4, seed=300 + m)[0], a, proportions=PROPORTIONS)
    for name in TERMS:
        assert_close(terms[name], expected[name], what=name)


def test_size_aware_orthogonality_is_smallest_at_the_target_shares():
    """One-hot batches of 100 points: the weighted l2 is lowest for sizes 55 / 30 / 15 among
    all splits, and the paper's l2 for the most equal one."""
    def one_hot(sizes):
        return tf.one_hot(np.repeat(np.arange(3), sizes), 3)

    splits = [(a, b, 100 - a - b) for a in range(1, 99) for b in range(1, 100 - a)]
    weighted = {s: float(L.orthogonality(one_hot(s), PROPORTIONS)) for s in splits[::7] + [(55, 30, 15)]}
    assert min(weighted, key=weighted.get) == (55, 30, 15)
    plain = {s: float(L.orthogonality(one_hot(s))) for s in [(34, 33, 33), (55, 30, 15), (80, 10, 10)]}
    assert min(plain, key=plain.get) == (34, 33, 33)


def test_size_aware_orthogonality_gradient_matches_finite_differences():
    h32, _, logits = make_inputs(12, 3, 4, seed=310, clustered=True)
    z = tf.Variable(logits.astype(np.float32))
    with tf.GradientTape() as tape:
        total = L.ddc_loss(tf.constant(h32), tf.nn.softmax(z), proportions=PROPORTIONS)["total"]
    gz = _np(tape.gradient(total, z))
    h64, z64 = h32.astype(np.float64), logits.astype(np.float64)
    s2 = ref.bandwidth_sq(ref.pairwise_sq_dists(h64), 0.15, "reference", L.EPS_SIGMA)
    fd = ref.central_difference(
        lambda zz: ref.ddc_loss(h64, ref.softmax(zz), sigma_sq=s2, proportions=PROPORTIONS)["total"], z64, step=1e-6)
    assert np.linalg.norm(fd) > 1e-4
    assert rel_norm_err(gz, fd) < GRAD_RTOL


def test_size_aware_orthogonality_rejects_a_wrong_number_of_proportions():
    with pytest.raises(ValueError, match="one per cluster"):
        L.orthogonality(tf.fill([4, 3], 1 / 3), (0.5, 0.5))


@pytest.mark.parametrize("mode", MODES)
def test_gradient_check_would_catch_a_moving_bandwidth(mode):
    """The FD check above has power: letting σ² follow the input changes the gradient."""
    m, weights = 8, (1.0, 1.0, 1.0)
    h32, _, logits = make_inputs(m, 3, 4, seed=200 + m, clustered=True)
    gh, _, z64 = _tf_grads(h32, logits, mode, weights)
    a64 = ref.softmax(z64)

    def f_moving(hh):
        return ref.ddc_loss(hh, a64, sigma_mode=mode, weights=weights, eps=L.EPS_SIGMA)["total"]

    fd_moving = ref.central_difference(f_moving, h32.astype(np.float64), step=1e-7)
    assert rel_norm_err(gh, fd_moving) > 10 * GRAD_RTOL


# ---------------------------------------------------------------------- degenerate
def _finite_value_and_grads(h_in, a_in, mode, what, logits=None):
    """Values finite and equal to the reference; gradients wrt hidden and A (or logits) finite."""
    h = tf.Variable(h_in)
    src = tf.Variable(logits.astype(np.float32) if logits is not None else a_in)
    with tf.GradientTape() as tape:
        a = tf.nn.softmax(src) if logits is not None else src
        out = L.ddc_loss(h, a, sigma_mode=mode)
    a_used = _np(a)
    grads = tape.gradient(out["total"], [h, src])
    for name in TERMS:
        assert np.isfinite(float(out[name])), f"{what}: {name} = {float(out[name])}"
    for g, nm in zip(grads, ("hidden", "assignments")):
        assert g is not None, f"{what}: no gradient wrt {nm}"
        assert np.all(np.isfinite(_np(g))), f"{what}: non-finite gradient wrt {nm}: {g}"
    want = ref.ddc_loss(_np(h_in), a_used, sigma_mode=mode, eps=L.EPS_SIGMA)
    check_terms(out, want, what=what)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_all_points_identical(mode):
    rng = np.random.default_rng(21)
    row = (rng.standard_normal(50) * 3.0).astype(np.float32)
    h = np.tile(row, (12, 1))
    _, a, logits = make_inputs(12, 4, 50, seed=22)
    out = _finite_value_and_grads(h, a, mode, f"identical points {mode}", logits=logits)
    # K = all ones: every pair of columns is parallel in kernel space
    assert float(out["l1"]) == pytest.approx(1.0, rel=1e-5)
    assert float(out["l3"]) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_all_points_identical_zero(mode):
    h = np.zeros((7, 5), np.float32)
    _, a, _ = make_inputs(7, 3, 5, seed=23)
    _finite_value_and_grads(h, a, mode, f"zero hidden {mode}")


@pytest.mark.parametrize("mode", MODES)
def test_all_mass_on_one_cluster(mode):
    h, _, _ = make_inputs(10, 4, 6, seed=24)
    a = np.zeros((10, 4), np.float32)
    a[:, 0] = 1.0
    _finite_value_and_grads(h, a, mode, f"one cluster (exact) {mode}")
    logits = np.zeros((10, 4))
    logits[:, 0] = 200.0  # saturates float32 softmax to an exact one-hot
    _finite_value_and_grads(h, None, mode, f"one cluster (logits) {mode}", logits=logits)


@pytest.mark.parametrize("mode", MODES)
def test_fewer_points_than_clusters(mode):
    h, a, logits = make_inputs(3, 10, 5, seed=25)
    _finite_value_and_grads(h, a, mode, f"m<k {mode}", logits=logits)
    h, a, logits = make_inputs(2, 10, 5, seed=26, sharp=True)
    _finite_value_and_grads(h, a, mode, f"m=2<k sharp {mode}", logits=logits)


@pytest.mark.parametrize("mode", MODES)
def test_one_hot_assignments(mode):
    rng = np.random.default_rng(27)
    h, _, _ = make_inputs(20, 5, 8, seed=27)
    a = np.eye(5, dtype=np.float32)[rng.integers(0, 5, size=20)]
    _finite_value_and_grads(h, a, mode, f"one-hot {mode}")
    logits = 300.0 * a.astype(np.float64)
    _finite_value_and_grads(h, None, mode, f"one-hot logits {mode}", logits=logits)


@pytest.mark.parametrize("mode", MODES)
def test_single_point_batch(mode):
    # documented: no pairs -> median 0 -> σ² = EPS_SIGMA (K = [[1]] anyway); l2 = 0
    h, a, logits = make_inputs(1, 3, 4, seed=28)
    out = _finite_value_and_grads(h, a, mode, f"m=1 {mode}", logits=logits)
    assert float(out["l2"]) == 0.0
    assert_close(L.bandwidth_sq(L.pairwise_sq_dists(h), 0.15, mode), L.EPS_SIGMA,
                 rtol=1e-6, atol=0)


@pytest.mark.parametrize("mode", MODES)
def test_single_cluster(mode):
    # documented: d_cs = 0 for k = 1 (no cluster pairs); l2 = mean a_q.a_l = 1
    h, a, _ = make_inputs(9, 1, 4, seed=29)
    out = _finite_value_and_grads(h, a, mode, f"k=1 {mode}")
    assert float(out["l1"]) == 0.0 and float(out["l3"]) == 0.0
    assert float(out["l2"]) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_hidden(dtype, mode):
    h32, a, _ = make_inputs(40, 4, 16, seed=30, clustered=True)
    h_low = tf.cast(h32, dtype)
    h_rounded = _np(tf.cast(h_low, tf.float32)).astype(np.float32)
    hv = tf.Variable(h_low)
    with tf.GradientTape() as tape:
        out = L.ddc_loss(hv, a, sigma_mode=mode)
    g = tape.gradient(out["total"], hv)
    for name in TERMS:
        assert out[name].dtype == tf.float32
    assert g is not None and g.dtype == dtype
    assert np.all(np.isfinite(_np(tf.cast(g, tf.float32))))
    # computed in float32 after the cast: same as the float32 loss on the rounded inputs
    out32 = L.ddc_loss(h_rounded, a, sigma_mode=mode)
    want = ref.ddc_loss(h_rounded, a, sigma_mode=mode, eps=L.EPS_SIGMA)
    for name in TERMS:
        assert_close(out[name], _np(out32[name]), rtol=1e-5, atol=1e-7, what=f"{dtype} {name}")
    check_terms(out, want, what=f"{dtype.name} hidden {mode}")
    # and near the unrounded float32 result (input rounding only)
    full = L.ddc_loss(h32, a, sigma_mode=mode)
    tol = 2e-2 if dtype == tf.bfloat16 else 2e-3
    for name in TERMS:
        assert_close(out[name], _np(full[name]), rtol=tol, atol=1e-4, what=f"{dtype} vs f32")


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_hidden_and_assignments(dtype):
    # mixed precision: a softmax left in the compute dtype
    h32, a32, _ = make_inputs(40, 4, 16, seed=31, clustered=True)
    h_low, a_low = tf.cast(h32, dtype), tf.cast(a32, dtype)
    out = L.ddc_loss(h_low, a_low)
    for name in TERMS:
        assert out[name].dtype == tf.float32
    want = ref.ddc_loss(_np(tf.cast(h_low, tf.float32)), _np(tf.cast(a_low, tf.float32)),
                        sigma_mode=L.DEFAULT_SIGMA_MODE, eps=L.EPS_SIGMA)
    check_terms(out, want, what=f"{dtype.name} hidden+assignments")


# ------------------------------------------------------------------------- compiled
@pytest.mark.parametrize("mode", MODES)
def test_xla_compiled_dynamic_batch(mode):
    d, k = 16, 4

    def loss(h, a):
        return L.ddc_loss(h, a, sigma_mode=mode)

    compiled = tf.function(loss, jit_compile=True, input_signature=[
        tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None, k], tf.float32)])
    for m in (1, 2, 4, 7, 100):  # 0, 1, 6 (even), 21 (odd), 4950 (even) pairs: one XLA compilation each
        h, a, _ = make_inputs(m, k, d, seed=300 + m)
        got = compiled(tf.constant(h), tf.constant(a))
        eager = loss(h, a)
        want = ref.ddc_loss(h, a, sigma_mode=mode, eps=L.EPS_SIGMA)
        for name in TERMS:
            assert_close(got[name], _np(eager[name]), rtol=1e-5, atol=1e-7,
                         what=f"xla vs eager m={m} {name}")
        check_terms(got, want, what=f"xla m={m} {mode}")
    assert compiled.experimental_get_tracing_count() == 1


def test_xla_compiled_gradient_dynamic_batch():
    """A jit-compiled training step: gradients inside XLA with a None batch dimension."""
    d, k = 8, 3

    @tf.function(jit_compile=True, input_signature=[
        tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None, k], tf.float32)])
    def step(h, z):
        with tf.GradientTape() as tape:
            tape.watch([h, z])
            total = L.ddc_loss(h, tf.nn.softmax(z))["total"]
        return total, tape.gradient(total, [h, z])

    for m in (1, 9, 32):
        h, _, logits = make_inputs(m, k, d, seed=400 + m, clustered=True)
        z = logits.astype(np.float32)
        total, (gh, gz) = step(tf.constant(h), tf.constant(z))
        hv, zv = tf.Variable(h), tf.Variable(z)
        with tf.GradientTape() as tape:
            t_e = L.ddc_loss(hv, tf.nn.softmax(zv))["total"]
        eh, ez = tape.gradient(t_e, [hv, zv])
        assert_close(total, float(t_e), rtol=1e-5, what=f"xla total m={m}")
        assert np.all(np.isfinite(_np(gh))) and np.all(np.isfinite(_np(gz)))
        assert rel_norm_err(gh, _np(eh)) < 1e-4 or np.abs(_np(eh)).max() < 1e-6
        # m = 1: the loss is constant in z, so both gradients are round-off (~1e-8)
        assert rel_norm_err(gz, _np(ez)) < 1e-4 or np.abs(_np(ez)).max() < 1e-6


# -------------------------------------------------------------------- hand-checked
def test_cs_identity_kernel_separated_one_hot_is_zero():
    a = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 12 points, 3 pure clusters
    got = float(L.cauchy_schwarz(a, tf.eye(12)))
    assert 0.0 <= got < 1e-6


def test_cs_identical_columns_is_one():
    h, _, _ = make_inputs(15, 4, 6, seed=40)
    kern = L.gaussian_kernel(L.pairwise_sq_dists(h), 2.0)
    for k in (2, 3, 4, 7):  # mean over pairs, not the paper's 1/k factor (k=4 -> 1.5)
        a = np.full((15, k), 1.0 / k, np.float32)
        assert float(L.cauchy_schwarz(a, kern)) == pytest.approx(1.0, rel=1e-5)
        out = L.ddc_loss(h, a)
        assert float(out["l1"]) == pytest.approx(1.0, rel=1e-5)
        assert float(out["l2"]) == pytest.approx(1.0 / k, rel=1e-5)  # a mean, not a sum


def test_cs_two_of_three_columns_hand_value():
    # K = I, B columns (1,0), (0,1), (1,1)/sqrt2-ish: N = B^T B
    b = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], np.float32)
    # N = [[1,0,1],[0,1,1],[1,1,2]] -> pairs: 0 -> 1e-9, (0,2): 1/sqrt2, (1,2): 1/sqrt2
    want = (1e-9 + 2.0 / np.sqrt(2.0)) / 3.0
    assert_close(L.cauchy_schwarz(b, tf.eye(2)), want, rtol=1e-6, what="hand cs")


def test_separated_clusters_one_hot_hand_values():
    # two groups of 3 identical points 100 apart; paper mode: σ = 0.15 * 100 -> K_between
    # = exp(-1e4 / 450) ~ 2e-10, K_within = 1
    h = np.array([[0.0, 0.0]] * 3 + [[100.0, 0.0]] * 3, np.float32)
    a = np.repeat(np.eye(2, dtype=np.float32), 3, axis=0)
    out = L.ddc_loss(h, a, sigma_mode="paper")
    assert float(out["l1"]) < 1e-6
    assert float(out["l2"]) == pytest.approx(6.0 / 15.0, rel=1e-6)  # 3 + 3 same-cluster pairs
    e2 = np.exp(-2.0)
    assert float(out["l3"]) == pytest.approx(2 * e2 / (1 + e2 * e2), rel=1e-5)


def test_orthogonality_distinct_one_hot_is_zero():
    a = np.eye(6, dtype=np.float32)[[0, 3, 5, 1]]
    assert float(L.orthogonality(a)) == 0.0
    h, _, _ = make_inputs(4, 6, 3, seed=41)
    assert float(L.ddc_loss(h, a)["l2"]) == 0.0


def test_simplex_corner_affinity_hand_values():
    a = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], np.float32)
    e2 = np.exp(-2.0)
    want = np.array([[1.0, e2, e2],
                     [np.exp(-0.5), np.exp(-0.5), np.exp(-1.5)],
                     [np.exp(-2 / 3)] * 3])
    assert_close(L.simplex_corner_affinity(a), want, rtol=1e-6, what="M hand")


def test_reference_self_consistency():
    """The reference itself against closed forms, so a wrong reference cannot hide."""
    h = np.array([[0.0], [1.0], [3.0], [7.0]])
    dsq = ref.pairwise_sq_dists(h)
    assert ref.bandwidth_sq(dsq, 0.15, "reference") == pytest.approx(1.875)
    assert ref.bandwidth_sq(dsq, 0.15, "paper") == pytest.approx(0.275625)
    a = np.full((5, 4), 0.25)
    assert ref.cauchy_schwarz(a, np.eye(5) + 0.1) == pytest.approx(1.0)
    assert ref.orthogonality(a) == pytest.approx(0.25)
    # central differences of a quadratic
    g = ref.central_difference(lambda x: float((x ** 2).sum()), np.array([1.0, -2.0]))
    assert np.allclose(g, [2.0, -4.0], atol=1e-8)
