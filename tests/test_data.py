"""IDX parsing, verification and splitting of Fashion-MNIST."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from conftest import idx_images_bytes, idx_labels_bytes, write_gz
from genreport.pipeline.data.fashion_mnist import (
    CLASS_NAMES,
    EXPECTED_SHA256,
    FILES,
    find_data_dir,
    load_dataset,
    load_split,
    parse_idx_images,
    parse_idx_labels,
    stratified_indices,
)
from genreport.pipeline.core.errors import DataError


def test_parses_images_and_labels_written_by_hand() -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    parsed = parse_idx_images(idx_images_bytes(images))
    assert parsed.shape == (2, 28, 28)
    assert np.array_equal(parsed, images)
    assert list(parse_idx_labels(idx_labels_bytes(np.array([3, 9], dtype=np.uint8)))) == [3, 9]


@pytest.mark.parametrize(
    "payload, message",
    [
        (idx_images_bytes(np.zeros((2, 28, 28), np.uint8), magic=2049), "bad magic"),
        (idx_images_bytes(np.zeros((2, 28, 28), np.uint8))[:-5], "truncated"),
        (idx_images_bytes(np.zeros((2, 27, 28), np.uint8)), "27x28"),
        (b"\x00\x00\x08", "too short"),
    ],
    ids=["wrong-magic", "truncated-body", "wrong-dims", "no-header"],
)
def test_refuses_malformed_image_files(payload: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_idx_images(payload, "images")


def test_refuses_labels_with_wrong_magic() -> None:
    with pytest.raises(DataError, match="bad magic"):
        parse_idx_labels(idx_labels_bytes(np.zeros(3, np.uint8), magic=2051))


def test_refuses_label_count_that_differs_from_image_count(tiny_data_dir: Path) -> None:
    write_gz(tiny_data_dir / FILES["train_labels"], idx_labels_bytes(np.zeros(49, np.uint8)))
    with pytest.raises(DataError, match="50 train images but 49 labels"):
        load_split(tiny_data_dir, "train", verify=False)


def test_refuses_files_whose_digest_is_not_fashion_mnist(tiny_data_dir: Path) -> None:
    with pytest.raises(DataError, match="SHA-256"):
        load_split(tiny_data_dir, "train", verify=True)


def test_refuses_truncated_gzip_and_names_the_file(copied_data_dir: Path) -> None:
    path = copied_data_dir / FILES["test_labels"]
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset(copied_data_dir)


def test_refuses_a_file_that_is_not_gzip(copied_data_dir: Path) -> None:
    (copied_data_dir / FILES["test_labels"]).write_bytes(b"plain text, not gzip")
    with pytest.raises(DataError, match="not a readable gzip"):
        load_dataset(copied_data_dir)


def test_missing_file_is_named(copied_data_dir: Path) -> None:
    (copied_data_dir / FILES["train_images"]).unlink()
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte.gz"):
        load_dataset(copied_data_dir)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_search_lists_every_place_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENREPORT_DATA_DIR", str(tmp_path / "env-dir"))
    monkeypatch.setattr("genreport.pipeline.data.fashion_mnist.DEBIAN_DATA_DIR", tmp_path / "debian")
    monkeypatch.setattr("genreport.pipeline.data.fashion_mnist.KERAS_CACHE_DIR", tmp_path / "keras")
    with pytest.raises(DataError) as error:
        load_dataset(None)
    for place in ("env-dir", "debian", "keras"):
        assert place in str(error.value)


def test_real_data_verifies_and_has_published_sizes(real_data_dir: Path) -> None:
    images, labels, digests = load_split(real_data_dir, "test")
    assert images.shape == (10_000, 28, 28)
    assert np.bincount(labels).tolist() == [1000] * 10
    assert len(digests) == 2


def test_small_dataset_is_scaled_stratified_and_disjoint(real_data_dir: Path) -> None:
    data = load_dataset(real_data_dir, train_limit=1000, test_limit=200, seed=3)
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert len(data.x_train) + len(data.x_val) == 1000
    assert len(data.x_val) == 100
    assert np.bincount(data.y_val, minlength=10).tolist() == [10] * 10
    assert np.bincount(data.y_test, minlength=10).tolist() == [20] * 10
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"


def test_same_seed_gives_the_same_split(real_data_dir: Path) -> None:
    first = load_dataset(real_data_dir, train_limit=500, test_limit=100, seed=5)
    second = load_dataset(real_data_dir, train_limit=500, test_limit=100, seed=5)
    assert np.array_equal(first.x_val, second.x_val)
    assert np.array_equal(first.test_index, second.test_index)


def test_stratified_indices_keep_class_proportions() -> None:
    labels = np.repeat(np.arange(10), [100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    chosen = stratified_indices(labels, 50, np.random.default_rng(0))
    assert len(chosen) == 50 and len(set(chosen)) == 50
    assert np.bincount(labels[chosen]).tolist() == [5] * 10


def write_gz_with_padding(path: Path, payload: bytes, padding_bytes: int) -> Path:
    """A ``.gz`` of ``payload`` followed by ``padding_bytes`` zeros, compressed as a stream."""
    zeros = bytes(1 << 20)
    with gzip.open(path, "wb") as handle:
        handle.write(payload)
        for _ in range(padding_bytes // len(zeros)):
            handle.write(zeros)
    return path


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_a_small_gz_that_expands_past_its_header_is_refused_while_streaming(tiny_data_dir: Path, kind: str) -> None:
    payload = idx_images_bytes(np.zeros((10, 28, 28), np.uint8)) if kind == "images" else idx_labels_bytes(np.zeros(10, np.uint8))
    path = write_gz_with_padding(tiny_data_dir / FILES[f"train_{kind}"], payload, padding_bytes=64 << 20)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"{path.name}: decompresses to more than the {len(payload)} bytes"):
            load_split(tiny_data_dir, "train", verify=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes held while refusing a 64 MB stream"


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_a_header_claiming_more_items_than_fashion_mnist_has_is_refused(tiny_data_dir: Path, kind: str) -> None:
    header = struct.pack(">IIII", 2051, 10_001, 28, 28) if kind == "images" else struct.pack(">II", 2049, 10_001)
    write_gz(tiny_data_dir / FILES[f"test_{kind}"], header)
    with pytest.raises(DataError, match=f"header claims 10001 {kind}, more than the 10000"):
        load_split(tiny_data_dir, "test", verify=False)


def test_streamed_reading_keeps_the_published_digests(real_data_dir: Path) -> None:
    _, _, digests = load_split(real_data_dir, "test", verify=False)
    assert digests == {name: EXPECTED_SHA256[name] for name in (FILES["test_images"], FILES["test_labels"])}


def test_a_label_outside_the_ten_classes_is_refused() -> None:
    with pytest.raises(DataError, match="label 10 outside 0..9"):
        parse_idx_labels(idx_labels_bytes(np.array([3, 10], dtype=np.uint8)))


def test_pixels_are_scaled_so_that_0_is_black_and_255_is_one(real_data_dir: Path) -> None:
    images, _, _ = load_split(real_data_dir, "test")
    data = load_dataset(real_data_dir, train_limit=200, test_limit=50, seed=0)
    assert np.array_equal(data.x_test[..., 0], images[data.test_index].astype(np.float32) / np.float32(255))
    assert data.x_test.min() == 0.0 and data.x_test.max() == 1.0


def test_the_environment_variable_comes_before_the_installed_data_set(tiny_data_dir: Path, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("genreport.pipeline.data.fashion_mnist.DEBIAN_DATA_DIR", real_data_dir)  # installed, and complete
    monkeypatch.setenv("GENREPORT_DATA_DIR", str(tiny_data_dir))
    assert find_data_dir(None) == tiny_data_dir
