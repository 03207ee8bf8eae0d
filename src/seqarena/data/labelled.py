"""Labelled sequences for classification, from any source, and their seeded stratified train/val/test split.

Sources: UCR/UEA archives (by name, see ucr.py), sequential MNIST and Fashion-MNIST (pixel by pixel, permuted,
or row by row), the `names` corpus (surname -> language, characters), a folder of <class>.txt files (one sequence
of characters per line), and user CSV/Parquet tables (tables.py).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqarena.data import download as dl
from seqarena.data import registry, ucr
from seqarena.data.tables import read_table, table_sequences
from seqarena.errors import DataError
from seqarena.splits import SPLITS

PAD, UNK = 0, 1  # token ids of character sequences; characters start at 2
MAX_ABS32 = 1e18  # numeric sequences are float32: beyond this, squares (scaling statistics) overflow


@dataclass
class LabelledSet:
    name: str
    seqs: list[np.ndarray]  # (T_i, C) float32 values, or (T_i,) int64 token ids when `vocab` is set
    labels: list[str]
    official: np.ndarray | None  # "train"/"test" per case from the source (UCR, Fashion-MNIST), else None
    channels: list[str]
    sha256: str
    vocab: list[str] | None = None  # characters; id i + 2 is vocab[i]


_NAMES_SHA = {
    "Arabic": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
}
NAMES_URL = "https://download.pytorch.org/tutorial/data.zip"  # members data/names/<Language>.txt

# sequential image sets: files, sha256 of the decompressed IDX bytes (the same whoever gzipped them), URL, split
_MNIST = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/{}",
        {
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{}",
        {
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
    ),
}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
IMAGE_SETS = {  # name -> (source, order)
    "smnist": ("mnist", "pixel"),
    "psmnist": ("mnist", "permuted"),
    "smnist-rows": ("mnist", "rows"),
    "sfashion": ("fashion-mnist", "pixel"),
    "psfashion": ("fashion-mnist", "permuted"),
    "sfashion-rows": ("fashion-mnist", "rows"),
}
PERMUTATION_SEED = 1234  # the fixed pixel order of the permuted variants


def listing() -> list[tuple[str, ...]]:
    """(name, task, size, defaults, period, licence, availability, description) of every classification dataset,
    for `seqarena datasets`."""
    from seqarena.data.registry import data_dir

    names_here = data_dir() is not None and (data_dir() / "names").is_dir()
    fashion_here = DEBIAN_FASHION.is_dir() or (data_dir() is not None and (data_dir() / "fashion-mnist").is_dir())
    rows = [
        ("names", "20,074 surnames", "PyTorch tutorials (BSD-3)", "data dir" if names_here else "download",
         "surname -> language (18 classes), characters; seeded 80/10/10 split"),
    ]  # fmt: skip
    for name, (source, order) in IMAGE_SETS.items():
        how = {"pixel": "784 steps, pixel by pixel", "permuted": "784 steps, fixed permutation", "rows": "28 rows"}
        size = "10,000 (test set, 80/10/10)" if source == "mnist" else "60,000 + 10,000"
        mnist_here = data_dir() is not None and (data_dir() / "mnist").is_dir()
        here = ("data dir" if mnist_here else "download") if source == "mnist" else (
            "installed" if fashion_here else "download")  # fmt: skip
        rows.append((name, size, "CC BY-SA 3.0" if source == "mnist" else "MIT", here, f"{source}, {how[order]}"))
    for name in ucr.ucr_names():
        rows.append((name, "official train/test", "UCR/UEA archive", "aeon", "UCR/UEA classification archive"))
    return [(name, "classify", size, "-", "-", *rest) for name, size, *rest in rows]


def load_labelled(spec: str, label: str | None = None, id_column: str | None = None) -> LabelledSet:
    """A labelled set by registered name, UCR/UEA name, or path (table, .ts pair, folder of <class>.txt)."""
    path = Path(spec).expanduser()
    if spec.lower() == "names":
        return _text_classes("names", _names_files())
    if spec.lower() in IMAGE_SETS:
        return _image_set(spec.lower(), *IMAGE_SETS[spec.lower()])
    if path.suffix.lower() == ".ts":
        return _ts_pair(path)
    if path.is_dir():
        files = {f.stem: f for f in sorted(path.glob("*.txt"))}
        if not files:
            raise DataError(f"{path} holds no <class>.txt files (one sequence of characters per line)")
        return _text_classes(path.name, files)
    if registry.is_path(spec) or path.suffix.lower() in (".parquet", ".tsv"):
        frame = read_table(path)
        seqs, labels, channels, _ = table_sequences(frame, str(path), label, id_column)
        return LabelledSet(path.stem, seqs, labels, None, channels, dl.sha256_file(path))
    found = ucr.find(spec)
    if found is not None:
        return _ts_pair(found[0])
    known = ", ".join(["names", *IMAGE_SETS])
    hint = " (UCR/UEA sets ship with aeon: pip install 'seqarena[ucr]')" if ucr.aeon_data_dir() is None else ""
    raise DataError(
        f"unknown classification dataset '{spec}': give a UCR/UEA name (see `seqarena datasets`), "
        f"one of {known}, a CSV/Parquet file or a folder of <class>.txt files{hint}"
    )


def _ts_pair(path: Path) -> LabelledSet:
    """A <Name>_TRAIN.ts file with its <Name>_TEST.ts beside it (official split), or one .ts file."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    test = path.with_name(path.name.replace("_TRAIN", "_TEST"))
    parts = [(path, "train")] + ([(test, "test")] if "_TRAIN" in path.name and test.is_file() else [])
    seqs, labels, official, digest = [], [], [], hashlib.sha256()
    for file, split in parts:
        s, lab, _ = ucr.read_ts(file)
        seqs += s
        labels += lab
        official += [split] * len(s)
        digest.update(dl.sha256_file(file).encode())
    name = path.stem.replace("_TRAIN", "")
    channels = [f"dim_{i}" for i in range(seqs[0].shape[1])]
    return LabelledSet(name, seqs, labels, np.array(official) if len(parts) > 1 else None, channels, digest.hexdigest())


def _names_files() -> dict[str, Path]:
    info = registry.DatasetInfo(
        name="names", task="classify", description="", licence="", citation="", source="file", folder="names"
    )
    files = {}
    for language, sha in _NAMES_SHA.items():
        filename = f"{language}.txt"
        path = registry.local_file(info, filename)
        if path is None:
            path = dl.download(NAMES_URL, registry.cache_dir() / "names" / filename, sha, f"data/names/{filename}")
        dl.verify(path, sha)
        files[language] = path
    return files


def _text_classes(name: str, files: dict[str, Path]) -> LabelledSet:
    """One class per file, one sequence of characters per non-empty line."""
    seqs_text, labels, digest = [], [], hashlib.sha256()
    for cls, path in files.items():
        try:
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not valid utf-8 (offset {exc.start}); convert it to utf-8") from None
        lines = [ln for ln in lines if ln]
        seqs_text += lines
        labels += [cls] * len(lines)
        digest.update(dl.sha256_file(path).encode())
    if not seqs_text:
        raise DataError(f"the files of {name} hold no sequences")
    vocab = sorted({ch for text in seqs_text for ch in text})
    index = {ch: i + 2 for i, ch in enumerate(vocab)}
    seqs = [np.array([index[ch] for ch in text], dtype=np.int64) for text in seqs_text]
    return LabelledSet(name, seqs, labels, None, ["char"], digest.hexdigest(), vocab)


def encode_chars(texts: list[str], vocab: list[str]) -> list[np.ndarray]:
    index = {ch: i + 2 for i, ch in enumerate(vocab)}
    return [np.array([index.get(ch, UNK) for ch in text] or [UNK], dtype=np.int64) for text in texts]


def _idx_file(source: str, filename: str) -> bytes:
    url, shas = _MNIST[source]
    roots = [r / source for r in (registry.data_dir(), registry.cache_dir()) if r is not None]
    if source == "fashion-mnist":
        roots.append(DEBIAN_FASHION)
    path = next((r / filename for r in roots if (r / filename).is_file()), None)
    if path is None:
        path = dl.save_url(url.format(filename), registry.cache_dir() / source / filename)
    try:
        payload = gzip.decompress(path.read_bytes())
    except (OSError, EOFError):
        raise DataError(f"{path} is not a gzip file; delete it and run again to download a fresh copy") from None
    if hashlib.sha256(payload).hexdigest() != shas[filename]:
        raise DataError(f"{path} does not hold the expected {source} data (sha256 mismatch); delete it and run again")
    return payload


def _image_set(name: str, source: str, order: str) -> LabelledSet:
    shas = _MNIST[source][1]
    parts = [("t10k", "test")] if source == "mnist" else [("train", "train"), ("t10k", "test")]
    images, labels, official = [], [], []
    for prefix, split in parts:
        pixels = np.frombuffer(_idx_file(source, f"{prefix}-images-idx3-ubyte.gz"), np.uint8, offset=16)
        ys = np.frombuffer(_idx_file(source, f"{prefix}-labels-idx1-ubyte.gz"), np.uint8, offset=8)
        images.append(pixels.reshape(-1, 28, 28).astype(np.float32) / 255.0)
        labels += [FASHION_CLASSES[y] if source == "fashion-mnist" else str(y) for y in ys]
        official += [split] * len(ys)
    stack = np.concatenate(images)  # (N, 28, 28)
    if order == "rows":
        seqs, channels = list(stack), [f"col_{i}" for i in range(28)]  # 28 steps of 28 pixels
    else:
        flat = stack.reshape(len(stack), 784, 1)
        if order == "permuted":
            flat = flat[:, np.random.default_rng(PERMUTATION_SEED).permutation(784)]
        seqs, channels = list(flat), ["pixel"]
    digest = hashlib.sha256("".join(sorted(shas.values())).encode()).hexdigest()
    return LabelledSet(name, seqs, labels, np.array(official) if len(parts) > 1 else None, channels, digest)


def assign_splits(
    labels: list[str],
    official: np.ndarray | None,
    val_fraction: float,
    shares: list[float],
    seed: int,
    folds: int | None = None,
    fold: int = 0,
) -> dict[str, np.ndarray]:
    """Case indices per split, stratified by class and seeded: validation is carved from the official training
    cases (never from test); without an official split, train/val/test follow `shares`.

    With `folds`, validation is instead fold `fold` of a stratified k-fold partition of the non-test cases (the
    official training cases, or train+val of `shares`), so k runs validate on every training case exactly once."""
    rng = np.random.default_rng(seed)
    labels_arr = np.array(labels)
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    if official is not None:
        out["test"] = list(np.flatnonzero(official == "test"))
        pool, fractions = np.flatnonzero(official == "train"), (1 - val_fraction, val_fraction, 0.0)
    else:
        pool, fractions = np.arange(len(labels)), tuple(shares)
    if folds is not None:
        fractions = (1 - fractions[2], 0.0, fractions[2])  # test first; the folds split what is left
    ordered: list[int] = []  # non-test cases grouped by class, shuffled within each class
    for cls in sorted(set(labels_arr[pool])):
        idx = pool[labels_arr[pool] == cls]
        idx = idx[rng.permutation(len(idx))]
        n_val = int(round(fractions[1] * len(idx))) if len(idx) >= 3 else 0
        n_test = int(round(fractions[2] * len(idx))) if len(idx) >= 3 else 0
        out["val"] += list(idx[:n_val])
        out["test"] += list(idx[n_val : n_val + n_test])
        out["train"] += list(idx[n_val + n_test :])
        ordered += list(idx[n_val + n_test :])
    if folds is not None:  # dealing the class-grouped cases round-robin stratifies every fold
        position = np.arange(len(ordered)) % folds
        out["val"] = [i for i, f in zip(ordered, position, strict=True) if f == fold]
        out["train"] = [i for i, f in zip(ordered, position, strict=True) if f != fold]
    return {s: np.sort(np.array(v, dtype=np.int64)) for s, v in out.items()}
