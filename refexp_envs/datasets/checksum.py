"""Where datasets live, and the SHA-256 that pins their content.

The checksum is over the files of the dataset's Minari `data/` directory (everything Minari reads):

    for each file under data/, in sorted order of its '/'-separated relative path:
        content = canonical JSON if the name ends in .json   (keys sorted, compact separators,
                  the top-level "dataset_size" of data/metadata.json dropped: Minari computes it
                  from directory sizes, which differ between file systems)
                  else the file's bytes
        line    = f"{relpath}\\0{sha256(content).hexdigest()}\\n"
    checksum = sha256(concatenation of the lines)

A second checksum, `nonpixel_checksum_dir`, is the same over everything *but the pixels*: a parquet
file's line holds the SHA-256 of its columns without `observations.pixels` (each column's name, type,
null mask and values in column order; JSON files as above). The pixels depend on the GL renderer
(docs/datasets.md, "Renderers"); the other columns depend only on the simulator and the seeds. So a
copy whose full checksum misses its pin but whose non-pixel checksum matches was drawn by another
renderer (or had pixel bytes changed), while a non-pixel mismatch is corruption or other package
versions. `nonpixel_checksum_dir(path, pixels=True)` is the value checksum with the pixels: equal
values written by another pyarrow (parquet files name their writer) match it but not the checksum.

Minari's metadata holds no timestamp and no absolute path (checked for 0.5.4), so with the same
package versions (minari, pyarrow: recorded in refexp.json) the checksum is deterministic.
Sidecar files next to `data/` (refexp.json) and the pixel cache are not covered.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SIDECAR = "refexp.json"  # next to data/: build record (spec, checksum, success, versions)
CACHE_DIR = ".refexp-cache"  # under the datasets root: hidden, so Minari never lists it
STAGING_DIR = ".refexp-staging"  # under the datasets root: builds and downloads in progress


def datasets_root() -> Path:
    """Minari's dataset directory ($MINARI_DATASETS_PATH or ~/.minari/datasets)."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    root = Path(env) if env else Path.home() / ".minari" / "datasets"
    return root


def dataset_path(dataset_id: str) -> Path:
    """The directory of a dataset in Minari's dataset directory (it may not exist yet)."""
    return datasets_root() / dataset_id


def flat(dataset_id: str) -> str:
    return dataset_id.replace("/", "__")


def staging_path(dataset_id: str) -> Path:
    return datasets_root() / STAGING_DIR / flat(dataset_id)


def cache_path(dataset_id: str) -> Path:
    return datasets_root() / CACHE_DIR / flat(dataset_id)


def is_complete(path: Path) -> bool:
    """A dataset directory is complete once its sidecar exists (written last, before the rename)."""
    return (path / "data" / "metadata.json").is_file() and (path / SIDECAR).is_file()


def _canonical_json(data: bytes, top_level: bool) -> bytes:
    obj = json.loads(data)
    if top_level and isinstance(obj, dict):
        obj.pop("dataset_size", None)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def file_digest(path: Path, rel: str) -> str:
    """SHA-256 of one file of `data/` as the checksum sees it (`rel`: its path relative to `data/`)."""
    if rel.endswith(".json"):
        return hashlib.sha256(_canonical_json(path.read_bytes(), rel == "metadata.json")).hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def data_files(data_dir: Path) -> list[tuple[str, Path]]:
    files = []
    for p in data_dir.rglob("*"):
        if p.is_file():
            files.append((p.relative_to(data_dir).as_posix(), p))
    files.sort()
    return files


def checksum_dir(dataset_dir: str | os.PathLike) -> str:
    """SHA-256 over a dataset directory's `data/` files (see the module docstring)."""
    data_dir = Path(dataset_dir) / "data"
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no Minari data directory at {data_dir}")
    h = hashlib.sha256()
    for rel, path in data_files(data_dir):
        h.update(f"{rel}\0{file_digest(path, rel)}\n".encode())
    return h.hexdigest()


PIXELS_COLUMN = "observations.pixels"


def value_digests(path: Path, rel: str) -> tuple[str, str]:
    """(without pixels, with pixels): the SHA-256s of one file of `data/` by its values (the module
    docstring), from one read; a JSON file's digest is its canonical one, twice."""
    if not rel.endswith(".parquet"):
        d = file_digest(path, rel)
        return d, d
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read()
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    nonpixel, values = hashlib.sha256(), hashlib.sha256()
    for name, col in zip(table.column_names, table.columns):
        arr = col.combine_chunks()
        parts = [f"{name}\0{arr.type}\0".encode(),
                 np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes()]
        flat = arr.flatten() if pa.types.is_fixed_size_list(arr.type) else arr
        if flat.null_count:  # the mask above holds them; a fixed fill keeps the bytes defined
            flat = flat.fill_null(False if pa.types.is_boolean(flat.type) else 0)
        parts.append(np.ascontiguousarray(flat.to_numpy(zero_copy_only=False)).tobytes())
        for part in parts:
            values.update(part)
            if name != PIXELS_COLUMN:
                nonpixel.update(part)
    return nonpixel.hexdigest(), values.hexdigest()


def combine(lines: dict[str, str]) -> str:
    """The checksum of `{relpath: file digest}` (the module docstring's formula)."""
    h = hashlib.sha256()
    for rel in sorted(lines):
        h.update(f"{rel}\0{lines[rel]}\n".encode())
    return h.hexdigest()


def nonpixel_checksum_dir(dataset_dir: str | os.PathLike, pixels: bool = False) -> str:
    """SHA-256 over a dataset directory's `data/` files by their values, without the pixels (the
    module docstring); with `pixels`, over all values: the data whatever the parquet writer."""
    return value_checksums_dir(dataset_dir)[1 if pixels else 0]


def value_checksums_dir(dataset_dir: str | os.PathLike) -> tuple[str, str]:
    """(nonpixel, values): both value checksums of a dataset directory, from one read of `data/`."""
    data_dir = Path(dataset_dir) / "data"
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no Minari data directory at {data_dir}")
    pairs = {rel: value_digests(path, rel) for rel, path in data_files(data_dir)}
    return combine({r: p[0] for r, p in pairs.items()}), combine({r: p[1] for r, p in pairs.items()})


def data_size_bytes(dataset_dir: str | os.PathLike) -> int:
    """Bytes of the files under `data/` (not counting directory entries)."""
    return sum(p.stat().st_size for _, p in data_files(Path(dataset_dir) / "data"))


def read_sidecar(dataset_dir: str | os.PathLike) -> dict:
    p = Path(dataset_dir) / SIDECAR
    return json.loads(p.read_text()) if p.is_file() else {}


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
