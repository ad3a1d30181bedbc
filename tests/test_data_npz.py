"""Bring-your-own .npz: dense vectors and images, CSR matrices, labels and broken files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from ddc_tf.data import load_arrays
from ddc_tf.data.npz import load_npy, load_npz, read_npz


def _csr_arrays(n=6, d=5, seed=0):
    m = scipy.sparse.random(n, d, density=0.4, format="csr", dtype=np.float32, random_state=seed)
    return m, dict(data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))


def test_dense_vectors_with_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3))
    np.savez(tmp_path / "v.npz", x=x, y=np.arange(8) % 3)
    data = load_arrays(tmp_path / "v.npz")
    assert data.kind == "vector" and data.x.dtype == np.float32 and data.raw_dtype == "float32"
    np.testing.assert_allclose(data.x, x, rtol=1e-6)
    assert data.y.dtype == np.int64 and data.n_classes == 3 and data.name.endswith("v.npz")


@pytest.mark.parametrize("shape", [(4, 6, 6), (4, 6, 6, 1), (4, 6, 6, 3)])
def test_uint8_images(tmp_path, shape):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.savez(tmp_path / "i.npz", x=x)
    data = load_arrays(str(tmp_path / "i.npz"))
    assert data.kind == "image" and data.x.ndim == 4 and data.raw_dtype == "uint8" and data.y is None
    np.testing.assert_allclose(data.x.reshape(shape), x / 255, rtol=1e-6)
    assert data.image_shape == data.x.shape[1:]


def test_sparse_csr(tmp_path):
    m, arrays = _csr_arrays()
    np.savez(tmp_path / "s.npz", **arrays, y=np.array([0, 1, 0, 1, 0, 1]))
    data = load_arrays(tmp_path / "s.npz")
    assert data.is_sparse and data.kind == "vector" and data.input_shape == (5,)
    np.testing.assert_array_equal(data.x.toarray(), m.toarray())


@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_what_scipy_sparse_save_npz_writes(tmp_path, layout):
    """``scipy.sparse.save_npz`` of a CSR or a CSC matrix loads as that matrix — a square CSC one
    too, whose arrays read as CSR would be its transpose without any error."""
    for shape in ((6, 5), (5, 5)):
        m = scipy.sparse.random(*shape, density=0.4, format=layout, dtype=np.float64, random_state=3)
        scipy.sparse.save_npz(tmp_path / "m.npz", m)
        data = load_arrays(tmp_path / "m.npz")
        assert data.is_sparse and data.x.format == "csr" and data.x.has_canonical_format
        np.testing.assert_allclose(data.x.toarray(), m.toarray(), rtol=1e-6)


@pytest.mark.parametrize("layout", ["coo", "bsr", "dia"])
def test_other_sparse_formats_are_refused_by_name(tmp_path, layout):
    m = scipy.sparse.random(6, 6, density=0.4, format=layout, random_state=0)
    scipy.sparse.save_npz(tmp_path / "m.npz", m)  # bsr has indices and indptr too, of its blocks
    with pytest.raises(ValueError, match=rf"m.npz: a scipy sparse matrix in '{layout}' format; save it as CSR or "
                                         r"CSC: scipy.sparse.save_npz\(path, matrix.tocsr\(\)\)"):
        load_arrays(tmp_path / "m.npz")
    _, arrays = _csr_arrays()
    np.savez(tmp_path / "odd.npz", **arrays, format=np.array([1, 2]))
    with pytest.raises(ValueError, match="'format' is .*; scipy.sparse.save_npz writes a string"):
        load_arrays(tmp_path / "odd.npz")
    np.savez(tmp_path / "csc.npz", **{**arrays, "shape": np.array(6)}, format="csc")  # a shape of no shape
    with pytest.raises(ValueError, match=r"csc.npz \(CSC, read as its transpose\): CSR 'shape' is \[6\]"):
        load_arrays(tmp_path / "csc.npz")
    np.savez(tmp_path / "dense.npz", x=np.zeros((3, 2)), format="png")  # a key of the user's own, beside x
    assert load_arrays(tmp_path / "dense.npz").n == 3


def test_label_key_and_explicit_drop(tmp_path):
    _, arrays = _csr_arrays()
    y_root = np.array([0, -1, 1, -1, 1, 0], np.int16)
    np.savez(tmp_path / "s.npz", **arrays, y_root=y_root, names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="s.npz: labels 'y_root' contain 2 negative"):
        load_arrays(tmp_path / "s.npz", label_key="y_root")
    data = load_arrays(tmp_path / "s.npz", label_key="y_root", drop_unlabeled=True, class_names_key="names")
    assert data.n == 4 and data.y.tolist() == [0, 1, 1, 0] and data.class_names == ("a", "b")
    with pytest.raises(ValueError, match="no labels key 'labels'"):
        load_arrays(tmp_path / "s.npz", label_key="labels")
    # class names saved as bytes (numpy's S dtype) are text, not "b'a'"
    np.savez(tmp_path / "b.npz", **arrays, y_root=y_root, names=np.array([b"a", b"b"]))
    data = load_arrays(tmp_path / "b.npz", label_key="y_root", drop_unlabeled=True, class_names_key="names")
    assert data.class_names == ("a", "b")
    np.savez(tmp_path / "b2.npz", **arrays, y_root=y_root, names=np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="no 1-d string array 'names'"):
        load_arrays(tmp_path / "b2.npz", label_key="y_root", drop_unlabeled=True, class_names_key="names")


def test_unused_object_array_is_not_read(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.zeros((2, 2)), vocab=np.array(["a", None], dtype=object))
    assert load_npz(tmp_path / "o.npz").n == 2
    with pytest.raises(ValueError, match="'vocab' holds Python objects.*refused"):
        read_npz(tmp_path / "o.npz")
    np.savez(tmp_path / "p.npz", x=np.array([[1], [None]], dtype=object))
    with pytest.raises(ValueError, match="p.npz: array 'x' holds Python objects"):
        load_npz(tmp_path / "p.npz")


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(x=np.array([[1.0, np.nan], [0.0, 1.0]])), r"1 non-finite value \(1 NaN"),
        (dict(x=np.array([[1.0, np.inf]])), "Inf"),
        (dict(x=np.zeros(5)), "rank 1"),
        (dict(x=np.zeros((2, 2, 2, 2, 2))), "rank 5"),
        (dict(x=np.zeros((3, 2)), y=np.zeros(4, int)), "4 labels in 'y' for 3 examples"),
        (dict(x=np.zeros((3, 2)), y=np.zeros(3)), r"dtype float64, expected integers; they are whole numbers, so "
                                                    r"store them as integers \(y.astype\(np.int64\)\)"),
        (dict(x=np.zeros((3, 2)), y=np.array([0.5, 1.0, 2.0])), "dtype float64, expected integers$"),
        (dict(x=np.zeros((3, 2)), y=np.array(["a", "", "b"])), "empty string at index 1"),
        (dict(z=np.zeros((3, 2))), r"no 'x' array.*keys are \['z'\]; save the features by name: "
                                   r"np.savez\(path, x=features, y=labels\)"),
        (dict(data=np.ones(1), indices=np.zeros(1, int)), "missing"),
        (dict(data=np.array([np.nan]), indices=np.zeros(1, int), indptr=np.array([0, 1]), shape=np.array([1, 2])), "NaN"),
        (dict(x=np.zeros((2, 2)), data=np.ones(1), indices=np.zeros(1, int), indptr=np.array([0, 1]), shape=np.array([1, 2])), "both"),
    ],
)
def test_bad_content(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match) as info:
        load_arrays(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


def test_string_labels_name_the_classes(tmp_path):
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 2)), y=np.array(["dog", "cat", "dog", "bird"]))
    data = load_arrays(tmp_path / "s.npz")
    assert data.class_names == ("bird", "cat", "dog") and data.y.tolist() == [2, 1, 2, 0]
    assert data.y.dtype == np.int64
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 2)), y=np.array([b"dog", b"cat", b"dog"]))  # bytes: text too
    assert load_arrays(tmp_path / "b.npz").class_names == ("cat", "dog")
    np.savez(tmp_path / "b0.npz", x=np.zeros((2, 2)), y=np.array([b"dog", b""]))
    with pytest.raises(ValueError, match="empty string at index 1"):
        load_arrays(tmp_path / "b0.npz")
    np.savez(tmp_path / "both.npz", x=np.zeros((2, 2)), y=np.array(["a", "b"]), names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="are strings, which name the classes themselves"):
        load_npz(tmp_path / "both.npz", class_names_key="names")


def test_truncated_and_missing_files(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((100, 20)))
    blob = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        load_arrays(tmp_path / "cut.npz")
    with pytest.raises(FileNotFoundError, match="gone.npz"):
        load_arrays(tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="gone.npz"):
        load_npz(tmp_path / "gone.npz")


def test_npy_vectors_and_images_load_without_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    data = load_arrays(tmp_path / "v.npy", n_clusters=3)
    assert data.kind == "vector" and data.y is None and data.raw_dtype == "float32" and data.scale == 1.0
    np.testing.assert_array_equal(data.x, x)
    pixels = np.random.default_rng(1).integers(0, 256, (4, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "i.npy", pixels)
    images = load_npy(tmp_path / "i.npy")
    assert images.kind == "image" and images.x.shape == (4, 6, 6, 1) and images.raw_dtype == "uint8"
    np.testing.assert_allclose(images.x[..., 0], pixels / 255, rtol=1e-6)
    # The same array as an .npz's x loads the same.
    np.savez(tmp_path / "i.npz", x=pixels)
    np.testing.assert_array_equal(load_arrays(tmp_path / "i.npz").x, images.x)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros(5), "the array has rank 1"),
        (np.zeros((2, 2, 2, 2, 2)), "rank 5"),
        (np.array([["a", "b"]]), "dtype <U1 is not numeric"),
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[{}]], dtype=object), "holds Python objects.*refused"),
    ],
)
def test_npy_bad_content(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    with pytest.raises(ValueError, match=match) as info:
        load_arrays(tmp_path / "bad.npy")
    assert "bad.npy" in str(info.value)


def test_npy_that_is_an_archive_or_missing_or_truncated(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((3, 2)))
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npz").read_bytes())
    with pytest.raises(ValueError, match="a.npy: an .npz archive under a .npy name"):
        load_arrays(tmp_path / "a.npy")
    np.save(tmp_path / "ok.npy", np.zeros((100, 20)))
    blob = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cut.npy: not a readable .npy array"):
        load_arrays(tmp_path / "cut.npy")
    with pytest.raises(FileNotFoundError, match="gone.npy"):
        load_npy(tmp_path / "gone.npy")
    with pytest.raises(TypeError, match="label_key"):
        load_arrays(tmp_path / "ok.npy", label_key="y")


def test_a_file_that_is_not_an_npy_is_named_so_not_blamed_on_pickle(tmp_path):
    """NumPy tries a file without its header as a pickle; the message says what the file is not."""
    from ddc_tf.serving.streams import open_data

    (tmp_path / "table.npy").write_text("a,b,y\n1,2,x\n")
    (tmp_path / "noise.npy").write_bytes(b"\x00\x01\x02\xff garbage")
    (tmp_path / "empty.npy").write_bytes(b"")
    for name, hint in (("table.npy", r" \(text: a table\? name it .csv\)"), ("noise.npy", "$"), ("empty.npy", "$")):
        message = rf"{name}: not an .npy file: it does not start with NumPy's header{hint}"
        with pytest.raises(ValueError, match=message):
            load_arrays(tmp_path / name)
        with pytest.raises(ValueError, match=message):  # ddc-tf predict's raw .npy inputs
            open_data(tmp_path / name)


def test_labels_under_a_tables_label_name_are_read_without_y(tmp_path):
    """Without a 'y', the one 1-D array of n entries named as a table's label column holds the
    labels (as load_table reads them); two such keys are refused; a key of another length is no label."""
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    np.savez(tmp_path / "labels.npz", x=x, labels=np.arange(6) % 2, classes=np.array(["a", "b"]))
    np.testing.assert_array_equal(load_npz(tmp_path / "labels.npz").y, np.arange(6) % 2)
    np.savez(tmp_path / "two.npz", x=x, labels=np.arange(6) % 2, Target=np.arange(6) % 3)
    with pytest.raises(ValueError, match=r"no 'y', and \['labels', 'Target'\] could each hold the labels"):
        load_npz(tmp_path / "two.npz")
    np.savez(tmp_path / "names.npz", x=x, target=np.array(["a", "b"]))  # class names, not one per point
    assert load_npz(tmp_path / "names.npz").y is None
    np.savez(tmp_path / "vocab.npz", x=x, labels=np.array(["a", None] * 3, dtype=object))  # unreadable: no labels
    assert load_npz(tmp_path / "vocab.npz").y is None
    # a regression target, or -1 for "no class": not labels by name alone, read as before, with a warning
    for name, values in (("target", np.linspace(0.5, 3, 6)), ("labels", np.array([0, 1, -1, 0, 1, 2]))):
        np.savez(tmp_path / "other.npz", x=x, **{name: values})
        with pytest.warns(UserWarning, match=rf"'{name}' is named like labels but holds .*; read without labels"):
            assert load_npz(tmp_path / "other.npz").y is None
    assert load_npz(tmp_path / "other.npz", drop_unlabeled=True).n == 5  # -1 dropped, as for y


def test_dense_features_saved_as_data_are_named_so(tmp_path):
    np.savez(tmp_path / "d.npz", data=np.zeros((4, 3), np.float32), labels=np.arange(4))
    with pytest.raises(ValueError, match=r"'data' holds a \(4, 3\) array, dense features rather than a CSR "
                                         r"matrix's values: save them as x"):
        load_npz(tmp_path / "d.npz")


# a broken deflate stream; a garbled zip version field
@pytest.mark.parametrize("fails_with", ["error", "NotImplementedError"])
def test_a_corrupt_compressed_archive_is_a_value_error(tmp_path, fails_with):
    """The first one-byte flip of a small compressed archive that makes NumPy fail with
    ``fails_with`` (``error``: zlib's) is a ValueError naming the file."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32))
    clean = buffer.getvalue()
    for offset in range(len(clean)):
        raw = bytearray(clean)
        raw[offset] ^= 0xFF
        try:
            with np.load(io.BytesIO(bytes(raw))) as archive:
                archive["x"]
        except Exception as error:  # noqa: BLE001 - the search looks for one kind
            if type(error).__name__ == fails_with:
                break
    else:
        pytest.fail(f"no flip gives {fails_with}")
    path = tmp_path / "z.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"z.npz: (corrupt or truncated|not a readable) .npz archive"):
        load_npz(path)


def test_a_damaged_label_named_key_is_an_error_not_no_labels(tmp_path):
    """Looking for labels without y reads the label-named keys: damage there is named, as under y."""
    import io
    import zipfile

    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((6, 2), np.float32), labels=np.arange(6))
    path = tmp_path / "damaged.npz"
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data[:20] if item.filename == "labels.npy" else data)  # a cut header
    with pytest.raises(ValueError, match=r"damaged.npz"):
        load_npz(path)
