"""`python -m refexp_envs.datasets {list,info,build,download,verify,path,pack,cache,bench}`."""

from __future__ import annotations

import argparse
import json
import sys

import refexp_envs  # noqa: F401  (MUJOCO_GL before mujoco)
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.registry import BASE_URL_ENV, REGISTRY, UnknownDatasetError, base_url, get_spec


def _status(dataset_id: str) -> str:
    path = ck.dataset_path(dataset_id)
    if ck.is_complete(path):
        return "built"
    if (path / "data" / "metadata.json").is_file():
        return "present (no build record)"
    if ck.staging_path(dataset_id).exists():
        return "partial build (resumable)"
    return "-"


def cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"RefExp datasets (local root: {ck.datasets_root()})")
    table.add_column("id", no_wrap=True)
    for col in ("env", "episodes/task", "noise", "seed", "success", "sha256", "local"):
        table.add_column(col)
    for dataset_id, s in sorted(REGISTRY.items()):
        table.add_row(
            dataset_id,
            s.env_id,
            str(s.episodes_per_task),
            str(s.noise),
            str(s.seed),
            "-" if s.behaviour_success is None else f"{s.behaviour_success:.1%}",
            (s.sha256 or "unpublished")[:12],
            _status(dataset_id),
        )
    Console().print(table)
    return 0


def cmd_info(args) -> int:
    import dataclasses

    spec = get_spec(args.id)
    path = ck.dataset_path(spec.dataset_id)
    record = ck.read_sidecar(path)
    info = {
        **dataclasses.asdict(spec),
        "num_episodes": spec.num_episodes,
        "path": str(path),
        "local": _status(spec.dataset_id),
        "archive_url": f"{base_url()}/{spec.dataset_id.replace('/', '__')}.tar.gz",
    }
    if record:
        from refexp_envs.datasets.build import env_code_sha256

        info["local_build"] = {
            k: record.get(k)
            for k in ("sha256", "behaviour_success", "behaviour_success_per_task", "size_bytes", "build_seconds", "workers", "versions")
        }
        if record.get("env_code_sha256") not in (None, env_code_sha256()):
            info["local_build"]["warning"] = "the env/policy code changed since this build: rebuild with --force"
    print(json.dumps(info, indent=2))
    return 0


def _sigterm_as_interrupt() -> None:
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_build(args) -> int:
    from refexp_envs.datasets.build import build_dataset

    _sigterm_as_interrupt()  # `kill` stops the workers too and keeps the finished shards
    build_dataset(args.id, workers=args.workers, progress=not args.quiet, force=args.force, cache=not args.no_cache)
    return 0


def cmd_download(args) -> int:
    from refexp_envs.datasets.download import download_dataset

    download_dataset(args.id, url=args.url, remote=args.remote, force=args.force, progress=not args.quiet)
    return 0


def cmd_verify(args) -> int:
    from refexp_envs.datasets.download import verify_dataset

    r = verify_dataset(args.id)
    if r.ok:
        print(f"OK {r.dataset_id} sha256 {r.actual} (matches the {r.source})")
        return 0
    print(f"FAILED {r.dataset_id}\n  expected {r.expected} ({r.source})\n  actual   {r.actual}", file=sys.stderr)
    return 1


def cmd_path(args) -> int:
    spec = get_spec(args.id)
    print(ck.dataset_path(spec.dataset_id))
    return 0


def cmd_pack(args) -> int:
    from refexp_envs.datasets.download import pack_dataset

    out = pack_dataset(args.id, args.out)
    print(out)
    print(out.with_name(out.name + ".sha256").read_text().strip())
    return 0


def cmd_cache(args) -> int:
    from refexp_envs.datasets.buffers import build_cache

    print(build_cache(get_spec(args.id).dataset_id, progress=True))
    return 0


def cmd_bench(args) -> int:
    from refexp_envs.datasets.buffers import benchmark_sampling

    r = benchmark_sampling(get_spec(args.id).dataset_id, batch=args.batch, steps=args.steps, reps=args.reps, cache=not args.no_cache)
    print(json.dumps(r, indent=2))
    return 0


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m refexp_envs.datasets",
        description="RefExp offline datasets (Minari format): list, info, build, download, verify, path.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="all registered ids and their local status").set_defaults(fn=cmd_list)
    for name, fn, text in [
        ("info", cmd_info, "size, episodes per task, behaviour success, checksum"),
        ("verify", cmd_verify, "check a local dataset against its SHA-256"),
        ("path", cmd_path, "where the dataset lives (Minari's dataset directory)"),
        ("cache", cmd_cache, "(re)build the memory-mapped pixel cache used by load_task_buffers"),
    ]:
        sp = sub.add_parser(name, help=text)
        sp.add_argument("id")
        sp.set_defaults(fn=fn)
    b = sub.add_parser("build", help="regenerate from the generation seed (resumable)")
    b.add_argument("id")
    b.add_argument("--workers", type=int, default=0, help="collector processes (0 = all cores)")
    b.add_argument("--force", action="store_true", help="rebuild even if present")
    b.add_argument("--no-cache", action="store_true", help="skip building the pixel cache")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(fn=cmd_build)
    d = sub.add_parser("download", help="fetch from the dataset host, verify, install")
    d.add_argument("id", help="registered id, or a full Minari remote id hf://<org>/refexp/...")
    d.add_argument("--url", help=f"base URL of the archive host (default ${BASE_URL_ENV} or {base_url()})")
    d.add_argument("--remote", help="a Minari remote, e.g. hf://<org> (default $MINARI_REMOTE)")
    d.add_argument("--force", action="store_true", help="replace a local copy")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(fn=cmd_download)
    m = sub.add_parser("bench", help="time sampling a batch of sequences (default 32 x 150 steps)")
    m.add_argument("id")
    m.add_argument("--batch", type=int, default=32)
    m.add_argument("--steps", type=int, default=150)
    m.add_argument("--reps", type=int, default=20)
    m.add_argument("--no-cache", action="store_true", help="read from parquet instead of the cache")
    m.set_defaults(fn=cmd_bench)
    k = sub.add_parser("pack", help="maintainers: write the release archive of a local dataset")
    k.add_argument("id")
    k.add_argument("--out", default="dist/datasets")
    k.set_defaults(fn=cmd_pack)
    return p


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from refexp_envs.datasets.build import DatasetBuildError
    from refexp_envs.datasets.buffers import DatasetNotFoundError
    from refexp_envs.datasets.download import DownloadError

    try:
        return args.fn(args)
    except (UnknownDatasetError, DatasetNotFoundError, DownloadError, DatasetBuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "build":
            print(
                f"\ninterrupted: finished shards are kept; run the same build command again to resume",
                file=sys.stderr,
            )
        return 130
