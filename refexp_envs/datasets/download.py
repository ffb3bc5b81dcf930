"""Download, verify and pack (for publishing) RefExp datasets.

Two hosts:

* a plain HTTPS archive host: `<base url>/<archive_name(id)>`, a `.tar.gz` of the dataset directory
  (`data/...` and `refexp.json`). The base URL is `registry.DEFAULT_BASE_URL`, overridden by
  `$REFEXP_DATASETS_URL` or `--url`. `pack_dataset` writes such an archive, reproducibly.
* Minari's own remotes (`hf://<org>`, a Hugging Face org; needs `pip install "minari[hf]"`), chosen
  by a full id (`hf://<org>/refexp/two-drawer/expert-v1`), `--remote`, or `$MINARI_REMOTE`: the
  download is `minari.download_dataset` itself (what `minari download` runs), into a private
  directory. `publish.py` puts a pinned dataset there. The archive host is kept as a mirror.

Either way the transfer goes into a staging directory under the datasets root, the SHA-256 over
`data/` is checked against the registry (or, for an id the registry has no checksum for yet,
against the archive's own build record, with a warning), and only then is the dataset renamed into
Minari's dataset directory. Any failure removes the staging directory: nothing half-done remains.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.registry import archive_name, base_url, get_spec


class DownloadError(RuntimeError):
    pass


class ChecksumError(DownloadError):
    pass


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    dataset_id: str
    ok: bool
    expected: str | None
    actual: str
    source: str  # where `expected` came from: "registry" | "build record" | "none"
    diagnosis: str = ""  # why it failed, in words (a renderer, corruption, a damaged cache) and what to do
    cache_problems: tuple[str, ...] = ()  # the pixel cache against its record, every byte

    def __bool__(self) -> bool:
        return self.ok


def _renderer_text(gl) -> str:
    if not gl:
        return "not recorded (built before renderers were recorded, or a download)"
    if isinstance(gl, list):  # workers on several renderers (a Ray cluster)
        return " + ".join(_renderer_text(g) for g in gl)
    return f"{gl.get('renderer')} ({gl.get('vendor')}; {gl.get('version')}; mujoco {gl.get('mujoco')})"


def explain_mismatch(spec, sidecar: dict, actual: str, nonpixel_actual: str | None,
                     values_actual: str | None = None) -> str:
    """Why `actual` misses the pin of `spec`, in words: a copy changed after it was built, the same
    values written by another parquet writer, pixels drawn by another renderer (everything else
    matches), or other data; with the renderer the pin was made with and how to get its bytes."""
    from refexp_envs.datasets.registry import PIN_RENDERER, PIN_WRITER

    lines = [f"{spec.dataset_id}: sha256 {actual} is not the pinned {spec.sha256}."]
    built = sidecar.get("sha256")
    versions = sidecar.get("versions") or {}
    if built and built != actual:
        lines.append(f"Its files changed after it was built or downloaded (its build record says {built}): the "
                     "copy is corrupt or was edited. Build or download it again (--force).")
    elif spec.values_sha256 and values_actual == spec.values_sha256:
        lines.append("Every value, pixels included, matches the pin: the same data written by another parquet "
                     f"writer (this copy: pyarrow {versions.get('pyarrow')}, minari {versions.get('minari')}; the "
                     f"pin: pyarrow {PIN_WRITER['pyarrow']}, minari {PIN_WRITER['minari']}). Not corruption, not "
                     "a renderer difference.")
        return "\n  ".join(lines)
    elif spec.nonpixel_sha256 and nonpixel_actual == spec.nonpixel_sha256:
        lines.append("Everything but the pixels matches the pin (non-pixel sha256 "
                     f"{nonpixel_actual}): the frames were drawn by another renderer, not corrupted in "
                     "transit. This copy's renderer: " + _renderer_text(sidecar.get("renderer")) + ".")
        writer = {k: versions.get(k) for k in PIN_WRITER}
        if not spec.values_sha256 and versions and writer != PIN_WRITER:
            lines.append(f"Its parquet writer differs from the pin's too ({writer} against {PIN_WRITER}), which "
                         "alone changes the bytes: this id has no value pin to tell the two apart.")
    elif spec.nonpixel_sha256 and nonpixel_actual is not None:
        lines.append(f"The columns other than the pixels differ from the pin too (non-pixel sha256 {nonpixel_actual}, "
                     f"pinned {spec.nonpixel_sha256}): not a renderer difference but other data (other "
                     f"simulator or package versions, see {ck.SIDECAR} 'versions', or corruption).")
    else:
        lines.append("This id has no non-pixel pin, so a renderer difference cannot be told from corruption here. "
                     "This copy's renderer: " + _renderer_text(sidecar.get("renderer")) + ".")
    lines.append(f"The pin was made with {_renderer_text(PIN_RENDERER)} through EGL. For the pinned bytes, "
                 f"rebuild with Mesa's software renderer (any Linux machine, also one with a GPU): "
                 f"REFEXP_RENDERER=llvmpipe python -m refexp_envs.datasets build {spec.dataset_id} --force")
    return "\n  ".join(lines)


def verify_dataset(dataset_id: str, cache: bool = True) -> VerifyResult:
    """Recompute a local dataset's SHA-256 and compare it with the registry (else its build record);
    explain a mismatch (`explain_mismatch`). With `cache`, the pixel cache that `load_task_buffers`
    reads is checked too, every byte against its own record."""
    from refexp_envs.datasets.buffers import cache_damage, require_local

    spec = get_spec(dataset_id)
    path = require_local(spec.dataset_id)
    actual = ck.checksum_dir(path)
    sidecar = ck.read_sidecar(path)
    if spec.sha256:
        expected, source = spec.sha256, "registry"
    else:
        expected = sidecar.get("sha256")
        source = "build record" if expected else "none"
    ok = expected is not None and actual == expected
    diagnosis = ""
    if not ok and spec.sha256:
        nonpixel = values = None
        if spec.values_sha256:
            nonpixel, values = ck.value_checksums_dir(path)
        elif spec.nonpixel_sha256:
            nonpixel = ck.nonpixel_checksum_dir(path)
        diagnosis = explain_mismatch(spec, sidecar, actual, nonpixel, values)
    elif not ok and expected is not None:
        diagnosis = (f"its files changed after it was built ({ck.SIDECAR} says {expected}): corrupt or edited; "
                     "build or download it again (--force)")
    problems = tuple(cache_damage(spec.dataset_id, full=True)) if cache else ()
    if problems:
        diagnosis += ("\n  " if diagnosis else "") + (
            f"the pixel cache at {ck.cache_path(spec.dataset_id)} is damaged: {'; '.join(problems)}; "
            f"`python -m refexp_envs.datasets cache {spec.dataset_id}` rebuilds it from the dataset")
    return VerifyResult(spec.dataset_id, ok and not problems, expected, actual, source, diagnosis, problems)


def _no_host(dataset_id: str, where: str, why: str) -> DownloadError:
    return DownloadError(
        f"could not download {dataset_id} from {where}: {why}\n"
        f"Build it locally instead (deterministic, same checksum):\n"
        f"  python -m refexp_envs.datasets build {dataset_id}"
    )


def _fetch(url: str, dest: Path, dataset_id: str, progress: bool, timeout: float) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    try:
        resp = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise _no_host(dataset_id, url, "the host has no such archive (404: not published yet?)") from None
        raise _no_host(dataset_id, url, f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise _no_host(dataset_id, url, f"host not reachable ({reason})") from None
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        columns = [TextColumn("[bold]download"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
        with Progress(*columns, disable=not progress) as bar, open(dest, "wb") as f:
            task = bar.add_task("download", total=total)
            try:
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    f.write(block)
                    got += len(block)
                    bar.advance(task, len(block))
            except Exception as e:  # http.client.IncompleteRead, connection reset, timeout
                raise DownloadError(f"truncated transfer of {url} after {got} bytes ({e!r})") from None
    if total is not None and got != total:
        raise DownloadError(f"truncated transfer of {url}: got {got} of {total} bytes")


def _extract(archive: Path, dest: Path) -> None:
    try:
        with gzip.open(archive, "rb") as gz:  # the whole stream first: gzip's CRC catches corruption
            while gz.read(1 << 22):
                pass
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:  # gzip.BadGzipFile is an OSError
        raise DownloadError(f"corrupt archive {archive.name}: {e}") from None


def _check_and_publish(spec, extracted: Path, stage: Path, progress: bool, where: str) -> Path:
    from rich.console import Console

    console = Console(stderr=True, quiet=not progress)
    meta = extracted / "data" / "metadata.json"
    if not meta.is_file():
        raise DownloadError(f"corrupt or incomplete archive from {where}: no data/metadata.json")
    actual = ck.checksum_dir(extracted)
    expected = spec.sha256
    if expected is None:
        expected = ck.read_sidecar(extracted).get("sha256")
        console.print(
            f"[yellow]warning: the registry has no checksum for {spec.dataset_id} yet; checking "
            f"the download against its own build record (integrity, not authenticity)"
        )
    if expected is None or actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {spec.dataset_id} from {where}:\n  expected {expected}\n"
            f"  got      {actual}\nthe download is corrupt or not this dataset; nothing was installed"
        )
    sidecar = extracted / ck.SIDECAR
    if not sidecar.is_file():  # e.g. published through a Minari remote without it
        ck.write_json_atomic(sidecar, {"dataset_id": spec.dataset_id, "sha256": actual, "source": where})
    final = ck.dataset_path(spec.dataset_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        os.rename(final, stage / "old")
    os.rename(extracted, final)
    console.print(f"downloaded {spec.dataset_id} (sha256 {actual} verified)\n  to {final}")
    return final


def download_dataset(
    dataset_id: str,
    *,
    url: str | None = None,
    remote: str | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float = 30.0,
    cache: bool = True,
) -> Path:
    """Fetch a registered dataset, verify its SHA-256, then install it into Minari's directory.

    dataset_id: a registered id, or a full Minari remote id (`hf://<org>/refexp/...`).
    url: base URL of the HTTPS archive host (default: $REFEXP_DATASETS_URL or the project's).
    remote: a Minari remote (`hf://<org>`); default $MINARI_REMOTE. A remote wins over the URL.
    """
    if "://" in dataset_id and not dataset_id.startswith(("http://", "https://")):
        scheme, rest = dataset_id.split("://", 1)
        org, dataset_id = rest.split("/", 1)
        remote = f"{scheme}://{org}"
    spec = get_spec(dataset_id)
    final = ck.dataset_path(spec.dataset_id)
    if ck.is_complete(final) and not force:
        if progress:  # plain print: rich would wrap the commands at the terminal width
            print(
                f"{spec.dataset_id} is already present at {final}; nothing downloaded.\n"
                f"  check it:        python -m refexp_envs.datasets verify {spec.dataset_id}\n"
                f"  download again:  python -m refexp_envs.datasets download {spec.dataset_id} --force",
                file=sys.stderr,
            )
        return final
    remote = remote or (None if url else os.environ.get("MINARI_REMOTE"))
    stage = ck.staging_path(spec.dataset_id).with_name(ck.flat(spec.dataset_id) + ".download")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        if remote:
            path = _download_minari(spec, remote, stage, progress)
        else:
            base = (url or base_url()).rstrip("/")
            src = f"{base}/{archive_name(spec.dataset_id)}"
            archive = stage / "archive.tar.gz.part"
            _fetch(src, archive, spec.dataset_id, progress, timeout)
            extracted = stage / "dataset"
            _extract(archive, extracted)
            archive.unlink()
            path = _check_and_publish(spec, extracted, stage, progress, src)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        try:
            stage.parent.rmdir()  # the staging root, when nothing else is in progress
        except OSError:
            pass
    if cache:
        from refexp_envs.datasets.buffers import build_cache

        build_cache(spec.dataset_id, progress=progress)
    return path


@contextlib.contextmanager
def minari_remote(remote: str, datasets_root: Path | None = None):
    """Minari's remote calls inside go to `remote` (`hf://<org>`): Minari reads $MINARI_REMOTE in
    several places (namespaces, listings), so it is set for the block, as is $MINARI_DATASETS_PATH
    when `datasets_root` is given; both are restored after."""
    if not remote.startswith("hf://") or len(remote) <= len("hf://") or "/" in remote[len("hf://"):].strip("/"):
        raise DownloadError(f"a Minari remote is hf://<org> (a Hugging Face user or organisation), got {remote!r}")
    saved = {k: os.environ.get(k) for k in ("MINARI_REMOTE", "MINARI_DATASETS_PATH")}
    os.environ["MINARI_REMOTE"] = remote.rstrip("/")
    if datasets_root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(datasets_root)
    try:
        try:
            import minari.storage.remotes.huggingface  # noqa: F401  (needs huggingface_hub)
        except ImportError as e:
            raise DownloadError(f"{e}\n(Minari's hf:// remotes need: pip install \"minari[hf]\")") from None
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def minari_fetch(spec, remote: str, root: Path) -> Path:
    """`minari.download_dataset` from `remote` into the private datasets root `root`; the path of
    the downloaded dataset (not verified yet)."""
    import minari

    root.mkdir(parents=True, exist_ok=True)
    with minari_remote(remote, root):
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Minari prints its progress
                minari.download_dataset(f"{remote.rstrip('/')}/{spec.dataset_id}")
        except Exception as e:  # network, missing dataset or org, an incompatible Minari version
            raise _no_host(spec.dataset_id, remote, f"{type(e).__name__}: {_first_line(e)}") from None
    return root / spec.dataset_id


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else repr(e)


def _download_minari(spec, remote: str, stage: Path, progress: bool) -> Path:
    """Minari's own remote, into a private MINARI_DATASETS_PATH, then verify and move."""
    path = minari_fetch(spec, remote, stage / "minari_root")
    return _check_and_publish(spec, path, stage, progress, f"{remote.rstrip('/')}/{spec.dataset_id}")


# ------------------------------------------------------------------------------------ publishing
def pack_dataset(dataset_id: str, out_dir: str | os.PathLike) -> Path:
    """Write the release archive of a local, verified dataset: `<out_dir>/<archive_name(id)>`.

    The archive is reproducible (sorted members, zero mtimes/owners, gzip mtime 0); a
    `<archive>.sha256` file with the archive's own digest is written next to it.
    """
    spec = get_spec(dataset_id)
    result = verify_dataset(spec.dataset_id)
    if not result.ok:
        raise ChecksumError(
            f"{spec.dataset_id} does not verify (expected {result.expected} from {result.source}, "
            f"got {result.actual}); refusing to pack it"
        )
    src = ck.dataset_path(spec.dataset_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / archive_name(spec.dataset_id)
    tmp = out.with_name(out.name + ".tmp")
    members = [(rel, p) for rel, p in ck.data_files(src / "data")]
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for rel, path in [(ck.SIDECAR, src / ck.SIDECAR)] + [("data/" + r, p) for r, p in members]:
                    info = tarfile.TarInfo(rel)
                    info.size = path.stat().st_size
                    info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = 0, 0o644, 0, 0, "", ""
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
    os.replace(tmp, out)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    (out.with_name(out.name + ".sha256")).write_text(f"{h.hexdigest()}  {out.name}\n")
    return out


__all__ = ["download_dataset", "verify_dataset", "pack_dataset", "VerifyResult", "DownloadError", "ChecksumError"]
