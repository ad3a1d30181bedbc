"""Image folders (flat / per class), SEALS-style crops, and broken images."""

from __future__ import annotations

import numpy as np
import pytest

from ddc_tf.data import load_arrays
from ddc_tf.data.images import load_image_folder

try:
    from tests.data_fixtures import write_image_folder
except ImportError:
    from data_fixtures import write_image_folder


def test_flat_folder_is_unlabelled_and_exact(tmp_path):
    written = write_image_folder(tmp_path, 3, size=(5, 4), mode="L")
    data = load_arrays(tmp_path)
    assert data.kind == "image" and data.y is None and data.x.shape == (3, 5, 4, 1)
    np.testing.assert_allclose(data.x[..., 0], written[""] / 255, rtol=1e-6)
    assert data.raw_dtype == "uint8"


def test_class_folders(tmp_path):
    written = write_image_folder(tmp_path, {"b_cls": 2, "a_cls": 3}, size=(6, 6))
    data = load_arrays(tmp_path)
    assert data.class_names == ("a_cls", "b_cls")
    assert data.y.tolist() == [0, 0, 0, 1, 1] and data.x.shape == (5, 6, 6, 3)
    np.testing.assert_allclose(data.x[:3], written["a_cls"] / 255, rtol=1e-6)


def test_resize_and_color(tmp_path):
    write_image_folder(tmp_path, {"a": 2}, size=(64, 64))
    data = load_image_folder(tmp_path, image_size=28, color="grayscale")
    assert data.x.shape == (2, 28, 28, 1)
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0


def test_mixed_sizes_need_image_size(tmp_path):
    write_image_folder(tmp_path / "a", 1, size=(8, 8))
    write_image_folder(tmp_path / "b", 1, size=(9, 8))
    with pytest.raises(ValueError, match="2 different sizes.*image_size"):
        load_arrays(tmp_path)
    assert load_arrays(tmp_path, image_size=(8, 8)).x.shape == (2, 8, 8, 3)


def test_gray_and_rgb_mixed_become_rgb(tmp_path):
    write_image_folder(tmp_path / "a", 1, size=(4, 4), mode="L")
    write_image_folder(tmp_path / "b", 1, size=(4, 4), mode="RGB")
    data = load_arrays(tmp_path)
    assert data.x.shape == (2, 4, 4, 3)
    np.testing.assert_array_equal(data.x[0, ..., 0], data.x[0, ..., 2])


def test_corrupt_image_is_named_or_skipped_explicitly(tmp_path):
    write_image_folder(tmp_path, {"a": 2, "b": 2}, size=(4, 4))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"broken.png: cannot decode image.*skip_unreadable"):
        load_arrays(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        data = load_arrays(tmp_path, skip_unreadable=True)
    assert data.n == 4


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path / "missing")
    write_image_folder(tmp_path / "x", {"a": 1}, size=(4, 4))
    (tmp_path / "x" / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: empty class folder"):
        load_arrays(tmp_path / "x")
    write_image_folder(tmp_path / "mixed", 1, size=(4, 4))
    (tmp_path / "mixed" / "sub").mkdir()
    with pytest.raises(ValueError, match="both image files"):
        load_arrays(tmp_path / "mixed")
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no image files"):
        load_arrays(tmp_path / "none")


def test_non_image_files_are_reported(tmp_path):
    write_image_folder(tmp_path, 2, size=(4, 4))
    (tmp_path / "README.txt").write_text("about")
    (tmp_path / ".DS_Store").write_bytes(b"")
    with pytest.warns(UserWarning, match="ignored 1 file"):
        assert load_arrays(tmp_path).n == 2


def test_balance_and_drop(tmp_path):
    write_image_folder(tmp_path, {"harp": 5, "hooded": 3, "Background": 4}, size=(8, 8))
    data = load_image_folder(tmp_path, balance=True, seed=0)
    assert np.bincount(data.y).tolist() == [3, 3, 3]
    again = load_image_folder(tmp_path, balance=True, seed=0)
    np.testing.assert_array_equal(data.x, again.x)
    kept = load_image_folder(tmp_path, drop_classes=["Background"])
    assert kept.class_names == ("harp", "hooded") and np.bincount(kept.y).tolist() == [5, 3]
    with pytest.raises(ValueError, match="no class folder"):
        load_image_folder(tmp_path, drop_classes=["seal"])


def test_exif_rotation_is_applied_and_animations_are_refused(tmp_path):
    """A phone photo stores its rotation in EXIF: read as viewers show it. A GIF of several frames
    is named, not read as its first frame."""
    from PIL import Image

    (tmp_path / "a").mkdir()
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[0, :, 0] = 255  # the top row red
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    Image.fromarray(pixels).save(tmp_path / "a" / "photo.png", exif=exif)
    data = load_image_folder(tmp_path / "a")
    assert data.x.shape == (1, 6, 4, 3)  # height and width swapped, as shown
    np.testing.assert_array_equal(data.x[0, :, -1, 0], 1.0)  # the red row is the right column now
    (tmp_path / "b").mkdir()
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (0, 200)]
    frames[0].save(tmp_path / "b" / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="anim.gif: holds 2 frames"):
        load_image_folder(tmp_path / "b")
    (tmp_path / "c").mkdir()  # a camera JPEG with a preview image (MPO) is one photo: its first frame
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (40, 200)]
    frames[0].save(tmp_path / "c" / "camera.jpg", format="MPO", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "c" / "camera.jpg") as img:
        assert img.format == "MPO" and img.n_frames == 2
    data = load_image_folder(tmp_path / "c")
    assert data.x.shape == (1, 8, 8, 3) and abs(float(data.x.mean()) * 255 - 40) < 3


def test_broken_symbolic_links_are_named_not_left_out(tmp_path):
    """A dangling link is neither a file nor a folder: an image, or a whole class, would be
    missing from the data without a word."""
    write_image_folder(tmp_path / "flat", 3, size=(8, 8))
    (tmp_path / "flat" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match=r"flat: 'gone.png' is a symbolic link to nothing; repair or remove it"):
        load_arrays(tmp_path / "flat")
    write_image_folder(tmp_path / "classes", {"cat": 2, "dog": 2}, size=(8, 8))
    (tmp_path / "classes" / "zebra").symlink_to(tmp_path / "no_folder", target_is_directory=True)
    with pytest.raises(ValueError, match=r"classes: 'zebra' is a symbolic link to nothing"):
        load_arrays(tmp_path / "classes")
    (tmp_path / "classes" / "zebra").unlink()  # a dangling link that is no image: passed over, as a non-image file
    (tmp_path / "classes" / "notes.txt").symlink_to(tmp_path / "nowhere.txt")
    assert load_arrays(tmp_path / "classes").n == 4
