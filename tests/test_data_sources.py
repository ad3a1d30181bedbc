"""load_arrays dispatch and the named offline sources (digits, circles, 20news, fashion_mnist)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddc_tf.data import KNOWN_SOURCES, load_arrays
from ddc_tf.data.newsgroups import NEWSGROUPS_FILE
from ddc_tf.data.paths import DATA_DIR_ENV, REPO_ROOT

try:
    from tests.data_fixtures import write_image_folder
except ImportError:  # run from inside tests/
    from data_fixtures import write_image_folder

SHARED_20NEWS = REPO_ROOT.parent / "shared" / "data" / NEWSGROUPS_FILE
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_known_sources():
    for name in ("digits", "circles", "mnist", "fashion_mnist", "seals", "seals2", "reuters", "reuters10k", "20news"):
        assert name in KNOWN_SOURCES


def test_digits():
    data = load_arrays("digits", n_clusters=10)
    assert data.x.shape == (1797, 64) and data.x.dtype == np.float32
    assert data.kind == "vector" and data.image_shape == (8, 8) and data.n_classes == 10
    assert data.scale == 1 / 16 and data.x.max() == 1.0 and data.x.min() == 0.0
    assert data.y.dtype == np.int64


def test_circles_deterministic_and_two_rings():
    data = load_arrays("circles", n=200, noise=0.0, seed=1)
    assert data.x.shape == (200, 2) and data.n_classes == 2
    radius = np.linalg.norm(data.x, axis=1)
    np.testing.assert_allclose(radius[data.y == 0], 1.0, rtol=1e-5)  # ring
    np.testing.assert_allclose(radius[data.y == 1], 0.3, rtol=1e-5)  # small inner circle
    np.testing.assert_array_equal(load_arrays("circles", n=200, noise=0.0, seed=1).x, data.x)
    with pytest.raises(ValueError, match="factor"):
        load_arrays("circles", factor=1.5)


def test_names_are_normalised():
    assert load_arrays("DIGITS").name == "digits"


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown data set 'cifar'.*digits, circles, mnist"):
        load_arrays("cifar")


def test_unknown_option_lists_accepted_ones():
    with pytest.raises(TypeError, match=r"circles: invalid option.*'nn'.*accepted options: \['n', 'noise'"):
        load_arrays("circles", nn=3)


def test_fewer_points_than_clusters():
    with pytest.raises(ValueError, match="circles: 5 points, fewer than the 10 clusters"):
        load_arrays("circles", n=5, n_clusters=10)


def test_unsupported_file(tmp_path):
    (tmp_path / "a.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"a.txt: unsupported file type; expected .*a .csv or .tsv table"):
        load_arrays(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_arrays("nope.npz")


@pytest.mark.skipif(not SHARED_20NEWS.exists(), reason="shared 20news file not present")
def test_20news_roots_and_groups():
    roots = load_arrays("20news")
    assert roots.is_sparse and roots.x.shape == (16075, 2000) and roots.x.nnz > 700_000
    assert np.bincount(roots.y).tolist() == [4891, 3979, 3952, 3253]
    assert roots.class_names == ("comp", "rec", "sci", "talk")
    groups = load_arrays("20news", task="groups")
    assert groups.n == 18846 and groups.n_classes == 20


def test_20news_missing_file_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setattr("ddc_tf.data.paths.REPO_ROOT", tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match=f"20news: {NEWSGROUPS_FILE} not found; looked in {tmp_path}") as error:
        load_arrays("20news")
    assert "python -m ddc_tf.data.newsgroups --out DIR" in str(error.value)  # how to build it


def test_20news_file_is_built_from_scikit_learns_download(tmp_path, monkeypatch):
    """The download path (``fetch_20newsgroups``, offline here: a stand-in corpus with the
    real group names) writes a file that ``--data 20news`` reads with both label sets."""
    import sklearn.datasets
    from sklearn.utils import Bunch

    from ddc_tf.data.newsgroups import ROOTS, main

    names = ["alt.atheism", "comp.graphics", "misc.forsale", "rec.autos", "sci.space", "soc.religion.christian",
             "talk.politics.guns"]
    words = {name: name.replace(".", " ") + " common words here" for name in names}
    target = np.arange(70) % len(names)
    posts = [f"{words[names[t]]} post {i % 5}" for i, t in enumerate(target)]
    asked = {}

    def fetch(**kwargs):
        asked.update(kwargs)
        return Bunch(data=posts, target=target, target_names=names)

    monkeypatch.setattr(sklearn.datasets, "fetch_20newsgroups", fetch)
    assert main(["--out", str(tmp_path)]) == 0
    assert asked["subset"] == "all" and asked["remove"] == ("headers",)
    roots = load_arrays("20news", path=tmp_path / NEWSGROUPS_FILE)
    kept = [names[t].split(".")[0] in ROOTS for t in target]
    assert roots.is_sparse and roots.n == sum(kept) and roots.class_names == ROOTS
    np.testing.assert_array_equal(roots.y, [ROOTS.index(names[t].split(".")[0]) for t in target if names[t].split(".")[0] in ROOTS])
    groups = load_arrays("20news", path=tmp_path / NEWSGROUPS_FILE, task="groups")
    assert groups.n == 70 and groups.class_names == tuple(names)
    np.testing.assert_allclose(np.asarray(groups.x.multiply(groups.x).sum(axis=1)).ravel(), 1.0, rtol=1e-5)  # TF-IDF rows, L2
    with np.load(tmp_path / NEWSGROUPS_FILE, allow_pickle=False) as stored:  # no pickled objects
        assert stored["vocabulary"].shape == (groups.x.shape[1],) and "space" in stored["vocabulary"]


def test_data_dir_env_is_searched(tmp_path, monkeypatch):
    m = np.eye(3, dtype=np.float32)
    np.savez(
        tmp_path / NEWSGROUPS_FILE,
        data=m[m > 0], indices=np.arange(3), indptr=np.arange(4), shape=np.array([3, 3]),
        y=np.array([0, 1, 2]), y_root=np.array([0, -1, 1]), roots=np.array(["r0", "r1"]),
        groups=np.array(["g0", "g1", "g2"]),
    )
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    data = load_arrays("20news")
    assert data.n == 2 and data.class_names == ("r0", "r1")


@pytest.mark.skipif(not DEBIAN_FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_found_without_flags(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    data = load_arrays("fashion_mnist", n_clusters=10)
    assert data.x.shape == (70000, 28, 28, 1) and data.n_classes == 10
    assert data.class_names[0] == "T-shirt/top" and data.raw_dtype == "uint8"
    assert np.bincount(data.y).tolist() == [7000] * 10


def test_public_api():
    import ddc_tf.data as data

    for name in ("ArrayData", "KNOWN_SOURCES", "load", "load_arrays", "to_dataset",
                 "check_n_clusters", "write_shards", "stream_dataset"):
        assert hasattr(data, name), name


def test_which_sources_take_image_options_and_how_recorded_ones_merge(tmp_path, monkeypatch):
    from ddc_tf.data.sources import merge_load_options, takes_options

    write_image_folder(tmp_path / "photos" / "a", 2, size=(8, 8))
    (tmp_path / "data.npz").write_bytes(b"")
    image = {"image_size": [4, 4]}
    assert takes_options(str(tmp_path / "photos"), image) and takes_options(tmp_path / "photos", ["color"])
    assert takes_options("seals", ["image_size", "color", "skip_unreadable"])  # a named image source
    for source in ("digits", "mnist", str(tmp_path / "data.npz"), np.zeros((2, 3))):
        assert not takes_options(source, image), source
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()  # a folder named like a data set: the name wins, as in load_arrays
    write_image_folder(tmp_path / "digits" / "a", 2, size=(8, 8))
    assert not takes_options("digits", image)

    recorded = {"image_size": [12, 10], "color": "grayscale"}
    photos = str(tmp_path / "photos")
    assert merge_load_options(photos, None, recorded) == recorded
    assert merge_load_options(photos, {"color": "rgb"}, recorded) == {"image_size": [12, 10], "color": "rgb"}
    assert merge_load_options(photos, {"color": "rgb"}, None) == {"color": "rgb"}
    assert merge_load_options("digits", None, recorded) == {}  # not applied where they cannot be
    assert merge_load_options(str(tmp_path / "data.npz"), {}, recorded) == {}
    with pytest.raises(ValueError, match=r"\['color'\] are for image folders"):
        merge_load_options("digits", {"color": "rgb"}, recorded)


def test_image_folders_record_how_they_were_read(tmp_path):
    write_image_folder(tmp_path / "a", 2, size=(8, 8), mode="RGB")
    assert load_arrays(tmp_path).load_options == {"color": "rgb"}  # the colour found, no size given
    assert load_arrays(tmp_path, image_size=4, color="grayscale").load_options == {"color": "grayscale",
                                                                                     "image_size": [4, 4]}
