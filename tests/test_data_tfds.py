"""mnist / fashion_mnist: local IDX resolution, the TFDS path (mocked) and the offline fast-fail."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import pytest

from ddc_tf.data import load_arrays
from ddc_tf.data import tfds_sources
from ddc_tf.data.paths import DATA_DIR_ENV

try:
    from tests.data_fixtures import write_mnist_folder
except ImportError:
    from data_fixtures import write_mnist_folder

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def no_system_dirs(monkeypatch, tmp_path):
    """Hide /usr/share/datasets and the shared data folder from the resolution."""
    monkeypatch.setattr(tfds_sources, "SYSTEM_DIRS", {"mnist": (), "fashion_mnist": ()})
    monkeypatch.setattr("ddc_tf.data.paths.REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


def test_mnist_from_a_local_idx_folder(tmp_path):
    x, y = write_mnist_folder(tmp_path / "m", n_train=20, n_test=6, gz=False)
    data = load_arrays("mnist", path=tmp_path / "m")
    assert data.name == "mnist" and data.x.shape == (26, 28, 28, 1)
    np.testing.assert_array_equal(data.y, y)
    assert data.class_names == tuple("0123456789")


def test_data_dir_env_folder_is_found(tmp_path, monkeypatch, no_system_dirs):
    write_mnist_folder(tmp_path / "fashion-mnist", n_train=4, n_test=2)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    data = load_arrays("fashion_mnist")
    assert data.n == 6 and data.class_names[-1] == "Ankle boot"


def test_system_folder_is_found(tmp_path, monkeypatch, no_system_dirs):
    write_mnist_folder(tmp_path / "debian", n_train=4, n_test=3)
    monkeypatch.setattr(tfds_sources, "SYSTEM_DIRS", {"mnist": (), "fashion_mnist": (str(tmp_path / "debian"),)})
    assert load_arrays("fashion_mnist", backend="idx").n == 7


def test_idx_backend_without_files_is_clear(no_system_dirs):
    with pytest.raises(FileNotFoundError, match="mnist: no folder of IDX files found"):
        load_arrays("mnist", backend="idx")


def test_offline_tfds_fails_fast(tmp_path, monkeypatch, no_system_dirs):
    monkeypatch.setattr(tfds_sources, "network_available", lambda *a, **k: False)

    def forbidden(*args, **kwargs):  # TFDS must not even be asked
        raise AssertionError("tfds.load called while offline")

    monkeypatch.setattr(tfds, "load", forbidden)
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"mnist: not prepared in TFDS data_dir .*cannot be reached"):
        load_arrays("mnist", data_dir=tmp_path / "tfds")
    assert time.perf_counter() - start < 10
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_arrays("fashion_mnist", backend="tfds", data_dir=tmp_path / "tfds", download=False)


def test_an_unprepared_tfds_folder_is_the_error_alone(tmp_path, monkeypatch, caplog, no_system_dirs):
    """An empty version folder (an earlier failed download) gives the one error, without TFDS's
    'Variant folder … has no dataset_info.json' notice before it."""
    monkeypatch.setattr(tfds_sources, "network_available", lambda *a, **k: False)
    (tmp_path / "tfds" / "mnist" / "3.0.1").mkdir(parents=True)
    with caplog.at_level(logging.WARNING), pytest.raises(FileNotFoundError, match="mnist: not prepared"):
        load_arrays("mnist", data_dir=tmp_path / "tfds")
    assert not [r for r in caplog.records if "Variant folder" in r.getMessage()], caplog.text
    assert not logging.getLogger("absl").filters  # the filter is removed again


def test_network_probe_is_quick():
    start = time.perf_counter()
    assert tfds_sources.network_available(("unreachable.invalid", 443), timeout=1.0) is False
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tfds_path_with_mock_data(tmp_path, monkeypatch, no_system_dirs, name):
    monkeypatch.setattr(tfds_sources, "network_available", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=12):
        data = load_arrays(name, backend="tfds", data_dir=tmp_path / "tfds", n_clusters=2)
    assert data.name == name and data.kind == "image" and data.raw_dtype == "uint8"
    assert data.x.shape[1:] == (28, 28, 1) and data.x.dtype == np.float32
    assert data.n == 12 and data.y.shape == (12,) and 0 <= data.x.min() and data.x.max() <= 1
    assert len(data.class_names) == 10


def test_path_and_tfds_backend_conflict(tmp_path):
    with pytest.raises(ValueError, match="backend='tfds'"):
        load_arrays("mnist", path=tmp_path, backend="tfds")
    with pytest.raises(ValueError, match="backend must be one of"):
        load_arrays("mnist", backend="web")


def test_a_broken_tfds_install_is_one_clear_error(monkeypatch):
    """TFDS imports lazily: a broken install (e.g. tensorflow-metadata built for a newer protobuf)
    surfaced as AttributeError on tfds.builder; it is an OSError with the reason and what to do."""
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_datasets.core", None)  # its import now fails
    with pytest.raises(OSError, match=r"mnist: TensorFlow Datasets cannot be used here \(ModuleNotFoundError: .*"
                                      r"install a tensorflow-datasets .* --data <folder>"):
        tfds_sources.import_tfds("mnist")


def test_a_data_folder_without_idx_files_is_not_passed_over_silently(tmp_path, monkeypatch, no_system_dirs):
    """``$DDC_TF_DATA_DIR/fashion-mnist`` holding other files (misnamed, unpacked elsewhere): a warning
    names it before the TFDS path is tried (offline here, so that fails as usual)."""
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "train_images.bin").write_bytes(bytes(8))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(tfds_sources, "network_available", lambda *a, **k: False)
    with pytest.warns(UserWarning, match=r"fashion-mnist exists but holds no IDX files.*through TFDS instead"):
        with pytest.raises(FileNotFoundError, match="not prepared"):
            load_arrays("fashion_mnist", data_dir=tmp_path / "tfds")

    (tmp_path / "fashion-mnist").rename(tmp_path / "other")  # a TFDS data_dir's own folder is no such folder
    (tmp_path / "fashion-mnist" / "3.0.1").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FileNotFoundError, match="not prepared"):
            load_arrays("fashion_mnist", data_dir=tmp_path / "tfds")
