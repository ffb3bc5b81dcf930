"""Publish a pinned dataset to a Minari remote on the Hugging Face hub (maintainers).

    python -m refexp_envs.datasets publish refexp/two-drawer/expert-v1 --remote hf://<org>

Only a dataset whose registry entry is pinned (a SHA-256) and whose local copy verifies against
that pin is uploaded, with Minari's own `minari.upload_dataset` (the namespaces `refexp` and
`refexp/<env>` first, then the dataset: `data/` and the build record `refexp.json`, into the
dataset repo `<org>/refexp`). Afterwards the dataset is downloaded back through the remote into a
temporary directory and checked against the pin again. Users then fetch it with Minari
(`MINARI_REMOTE=hf://<org> minari download ID`) or with `python -m refexp_envs.datasets download`,
which wraps that and verifies the pin. The token is the hub's own (`--token`, else $HF_TOKEN or
`hf auth login`'s).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.download import DownloadError, minari_fetch, minari_remote, verify_dataset
from refexp_envs.datasets.registry import get_spec


class PublishError(DownloadError):
    pass


def publish_dataset(dataset_id: str, remote: str, token: str | None = None, check: bool = True) -> str:
    """Upload the local, pinned, verified `dataset_id` to `remote` (`hf://<org>`); returns the
    remote id `hf://<org>/<dataset_id>`. With `check`, download it back and verify the pin."""
    import minari

    spec = get_spec(dataset_id)
    if not spec.sha256:
        raise PublishError(f"{spec.dataset_id} has no pinned SHA-256 in the registry: pin it before publishing "
                           "(docs/datasets.md, 'Pinning a dataset')")
    local = verify_dataset(spec.dataset_id)  # DatasetNotFoundError when it is not here
    if not local.ok:
        raise PublishError(f"the local {spec.dataset_id} does not match its pin (expected {local.expected}, got "
                           f"{local.actual}); rebuild it (python -m refexp_envs.datasets build {spec.dataset_id} "
                           "--force) before publishing")
    remote = remote.rstrip("/")
    target = f"{remote}/{spec.dataset_id}"
    with minari_remote(remote):
        try:
            present = spec.dataset_id in minari.list_remote_datasets(prefix=spec.dataset_id)
            if present:
                print(f"{target} is already published; nothing uploaded", file=sys.stderr)
            else:
                with contextlib.redirect_stdout(sys.stderr):  # Minari prints what it uploads
                    minari.upload_dataset(spec.dataset_id, token)
        except DownloadError:
            raise
        except Exception as e:  # authentication, network, hub errors
            raise PublishError(f"could not publish {spec.dataset_id} to {remote}: {type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0] if str(e).strip() else repr(e)}") from None
    if check:
        tmp = Path(tempfile.mkdtemp(prefix="refexp-publish-check-"))
        try:
            got = ck.checksum_dir(minari_fetch(spec, remote, tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if got != spec.sha256:
            raise PublishError(f"{target} downloads with sha256 {got}, not the pinned {spec.sha256}: the remote "
                               "copy is not this dataset")
    return target


__all__ = ["publish_dataset", "PublishError"]
