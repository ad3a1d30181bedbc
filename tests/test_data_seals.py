"""seals / seals2 on a generated folder of 64x64 PNG crops."""

from __future__ import annotations

import numpy as np
import pytest

from ddc_tf.data import load, load_arrays
from ddc_tf.data.paths import DATA_DIR_ENV

try:
    from tests.data_fixtures import write_image_folder
except ImportError:
    from data_fixtures import write_image_folder


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seals")
    write_image_folder(folder, {"harp": 9, "hooded": 6, "background": 12}, size=(64, 64))
    return folder


def test_seals_resized_rgb_balanced(crops):
    data = load_arrays("seals", path=crops, n_clusters=3)
    assert data.name == "seals" and data.x.shape == (18, 28, 28, 3)
    assert data.class_names == ("background", "harp", "hooded")
    assert np.bincount(data.y).tolist() == [6, 6, 6]
    assert data.raw_dtype == "uint8" and 0 <= data.x.min() and data.x.max() <= 1


def test_balancing_is_seeded(crops):
    a = load_arrays("seals", path=crops, seed=1)
    b = load_arrays("seals", path=crops, seed=1)
    c = load_arrays("seals", path=crops, seed=2)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert load_arrays("seals", path=crops, per_class=2).n == 6
    assert load_arrays("seals", path=crops, balance=False).n == 27


def test_seals2_drops_background(crops):
    data = load_arrays("seals2", path=crops)
    assert data.class_names == ("harp", "hooded") and np.bincount(data.y).tolist() == [6, 6]
    ds, _ = load("seals2", path=crops, batch_size=5, drop_remainder=True)
    assert ds.element_spec[0].shape == (5, 28, 28, 3)


def test_seals2_needs_a_background_class(tmp_path):
    write_image_folder(tmp_path, {"harp": 2, "hooded": 2}, size=(8, 8))
    with pytest.raises(ValueError, match=r"seals2: .* has no class folder 'background'"):
        load_arrays("seals2", path=tmp_path)


def test_missing_or_flat_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setattr("ddc_tf.data.paths.REPO_ROOT", tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="seals: the SEALS crops are not public"):
        load_arrays("seals")
    write_image_folder(tmp_path / "seals", 3, size=(8, 8))
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_arrays("seals")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_arrays("seals", path=tmp_path / "nowhere")
