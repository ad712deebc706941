"""Fashion-MNIST from its four IDX ``.gz`` files: parsing, verification and the splits we use.

The digests are SHA-256 of the *decompressed* IDX bytes, since repackagers (Debian among
them) may recompress the ``.gz`` files without changing their content.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genreport.pipeline.core.errors import DataError

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

IMAGE_SIZE = 28
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

EXPECTED_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

EXPECTED_COUNTS = {"train": 60_000, "test": 10_000}
HEADER_SIZES = {"images": 16, "labels": 8}
READ_CHUNK = 1 << 20

DEBIAN_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path("~/.keras/datasets/fashion-mnist")


@dataclass
class Dataset:
    """Images scaled to [0, 1] float32 with shape (n, 28, 28, 1); labels int64 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    source_dir: str
    digests: dict[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] = CLASS_NAMES

    def sizes(self) -> dict[str, int]:
        """Number of images in each split."""
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def candidate_data_dirs(explicit: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for the IDX files, in order: the option, the variable, Debian, Keras."""
    if explicit:
        return [Path(explicit).expanduser()]
    dirs = []
    from_env = os.environ.get("GENREPORT_DATA_DIR")
    if from_env:
        dirs.append(Path(from_env).expanduser())
    dirs += [DEBIAN_DATA_DIR, KERAS_CACHE_DIR.expanduser()]
    return dirs


def find_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The first candidate folder that holds all four files, or a DataError naming them all."""
    searched = candidate_data_dirs(explicit)
    for folder in searched:
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    if explicit:
        folder = searched[0]
        if not folder.is_dir():
            raise DataError(f"data folder {folder} does not exist")
        missing = [name for name in FILES.values() if not (folder / name).is_file()]
        raise DataError(f"data folder {folder} lacks {', '.join(missing)}")
    places = ", ".join(str(p) for p in searched)
    raise DataError(
        f"Fashion-MNIST not found (searched {places}); install Debian's dataset-fashion-mnist "
        "or pass --data-dir"
    )


def read_idx_file(path: Path, kind: str, max_count: int) -> tuple[bytes, str]:
    """The decompressed IDX bytes of one ``.gz`` file ('images' or 'labels') and their SHA-256.

    The file is decompressed as a stream that stops one byte past the size its header declares
    (at most ``max_count`` items), so a small file that expands without end is refused after
    reading little more than a real one. The digest is of the decompressed bytes, as before.
    """
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as handle:
            header = handle.read(HEADER_SIZES[kind])
            limit = idx_size_limit(header, kind, max_count, str(path))
            parts, size = [header], len(header)
            digest.update(header)
            while size <= limit:
                chunk = handle.read(min(READ_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    if size > limit:
        raise DataError(f"{path}: decompresses to more than the {limit} bytes its header declares (padded, or not an IDX file)")
    return b"".join(parts), digest.hexdigest()


def idx_size_limit(header: bytes, kind: str, max_count: int, name: str) -> int:
    """The byte size an IDX file with this header must have (16 + n*28*28 for images, 8 + n for labels).

    Refuses a wrong magic number, images other than 28x28, or a count above ``max_count``,
    so nothing is decompressed for a header that cannot be right.
    """
    values = [int(v) for v in _header(header, HEADER_SIZES[kind], name)]
    magic, count = values[0], values[1]
    expected_magic = IMAGES_MAGIC if kind == "images" else LABELS_MAGIC
    if magic != expected_magic:
        raise DataError(f"{name}: bad magic number {magic} (expected {expected_magic} for {kind})")
    item_size = 1
    if kind == "images":
        rows, cols = values[2], values[3]
        if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(f"{name}: images are {rows}x{cols}, expected 28x28")
        item_size = rows * cols
    if count > max_count:
        raise DataError(f"{name}: header claims {count} {kind}, more than the {max_count} this file may hold")
    return HEADER_SIZES[kind] + count * item_size


def parse_idx_images(raw: bytes, name: str = "images") -> np.ndarray:
    """Parse an IDX3 image file into a uint8 array of shape (n, 28, 28)."""
    header = _header(raw, 16, name)
    magic, count, rows, cols = (int(v) for v in header)
    if magic != IMAGES_MAGIC:
        raise DataError(f"{name}: bad magic number {magic} (expected {IMAGES_MAGIC} for images)")
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{name}: images are {rows}x{cols}, expected 28x28")
    expected = 16 + count * rows * cols
    if len(raw) != expected:
        raise DataError(f"{name}: {len(raw)} bytes for {count} images, expected {expected} (truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def parse_idx_labels(raw: bytes, name: str = "labels") -> np.ndarray:
    """Parse an IDX1 label file into an int64 array of shape (n,)."""
    magic, count = (int(v) for v in _header(raw, 8, name))
    if magic != LABELS_MAGIC:
        raise DataError(f"{name}: bad magic number {magic} (expected {LABELS_MAGIC} for labels)")
    if len(raw) != 8 + count:
        raise DataError(f"{name}: {len(raw)} bytes for {count} labels, expected {8 + count} (truncated or padded)")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{name}: label {labels.max()} outside 0..9")
    return labels


def _header(raw: bytes, size: int, name: str) -> np.ndarray:
    if len(raw) < size:
        raise DataError(f"{name}: {len(raw)} bytes, too short for an IDX header")
    return np.frombuffer(raw[:size], dtype=">u4")


def load_split(folder: Path, split: str, verify: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Images (uint8) and labels of 'train' or 'test', with the SHA-256 of each file's content."""
    prefix = "train" if split == "train" else "test"
    digests = {}
    arrays = []
    for kind, parse in (("images", parse_idx_images), ("labels", parse_idx_labels)):
        name = FILES[f"{prefix}_{kind}"]
        path = folder / name
        raw, digest = read_idx_file(path, kind, EXPECTED_COUNTS[prefix])
        if verify and digest != EXPECTED_SHA256[name]:
            raise DataError(f"{path}: SHA-256 of its content is {digest[:16]}…, not Fashion-MNIST's {EXPECTED_SHA256[name][:16]}…")
        digests[name] = digest
        arrays.append(parse(raw, str(path)))
    images, labels = arrays
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels, digests


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) to float32 (n, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def stratified_indices(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded choice of ``count`` indices with every class in proportion, sorted."""
    if count >= len(labels):
        return np.arange(len(labels))
    chosen = []
    classes = np.unique(labels)
    for cls in classes:
        members = np.flatnonzero(labels == cls)
        share = int(round(count * len(members) / len(labels)))
        chosen.append(rng.choice(members, size=min(share, len(members)), replace=False))
    picked = np.concatenate(chosen)
    if len(picked) > count:
        picked = rng.choice(picked, size=count, replace=False)
    elif len(picked) < count:
        rest = np.setdiff1d(np.arange(len(labels)), picked)
        picked = np.concatenate([picked, rng.choice(rest, size=count - len(picked), replace=False)])
    return np.sort(picked)


def split_train_val(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train and validation indices drawn from the training set."""
    val = stratified_indices(labels, max(1, int(round(len(labels) * val_fraction))), rng)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def load_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    train_limit: int | None = None,
    test_limit: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    verify: bool = True,
) -> Dataset:
    """Fashion-MNIST, verified, scaled to [0, 1], with a stratified validation split.

    ``train_limit`` caps train + validation together (drawn stratified from the 60,000);
    ``test_limit`` caps the test set (the first of a stratified seeded draw from the 10,000).
    """
    folder = find_data_dir(data_dir)
    rng = np.random.default_rng(seed)
    train_images, train_labels, digests = load_split(folder, "train", verify)
    test_images, test_labels, test_digests = load_split(folder, "test", verify)
    digests.update(test_digests)
    if train_limit:
        keep = stratified_indices(train_labels, train_limit, rng)
        train_images, train_labels = train_images[keep], train_labels[keep]
    test_index = np.arange(len(test_labels))
    if test_limit:
        test_index = stratified_indices(test_labels, test_limit, np.random.default_rng(seed + 1))
        test_images, test_labels = test_images[test_index], test_labels[test_index]
    train_idx, val_idx = split_train_val(train_labels, val_fraction, rng)
    x_all = to_unit_float(train_images)
    return Dataset(
        x_train=x_all[train_idx],
        y_train=train_labels[train_idx],
        x_val=x_all[val_idx],
        y_val=train_labels[val_idx],
        x_test=to_unit_float(test_images),
        y_test=test_labels,
        test_index=test_index,
        source_dir=str(folder),
        digests=digests,
    )
