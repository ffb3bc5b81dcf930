"""`python -m refexp_envs.datasets {list,info,build,download,verify,path,pack,cache,bench}`."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys

import refexp_envs  # noqa: F401  (MUJOCO_GL before mujoco)
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.registry import BASE_URL_ENV, REGISTRY, UnknownDatasetError, base_url, get_spec
from refexp_envs.helpformat import DefaultsHelpFormatter


def _status(dataset_id: str) -> str:
    path = ck.dataset_path(dataset_id)
    if ck.is_complete(path):
        return "built"
    if (path / "data" / "metadata.json").is_file():
        return "present (no build record)"
    if ck.staging_path(dataset_id).exists():
        return "partial build (resumable)"
    return "-"


def _rows() -> list[dict]:
    """One dict per registered id: the spec's fields plus the local status and path."""
    import dataclasses

    return [
        {**dataclasses.asdict(s), "num_episodes": s.num_episodes, "local": _status(i), "path": str(ck.dataset_path(i))}
        for i, s in sorted(REGISTRY.items())
    ]


def cmd_list(args) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    # default: what fits 80 columns (the env is in the id); --wide: every column, never cut
    cols = ["id", "eps/task", "success", "local"]
    if args.wide:
        cols = ["id", "env", "eps/task", "noise", "seed", "success", "size", "sha256", "local"]
    table = Table(title="RefExp datasets", caption=f"local root: {ck.datasets_root()}", caption_justify="left")
    for col in cols:
        table.add_column(col, no_wrap=args.wide or col == "id", justify="right" if col in ("eps/task", "success") else "left")
    for r in rows:
        cell = {
            "id": r["dataset_id"],
            "env": r["env_id"],
            "eps/task": str(r["episodes_per_task"]),
            "noise": str(r["noise"]),
            "seed": str(r["seed"]),
            "success": "-" if r["behaviour_success"] is None else f"{r['behaviour_success']:.1%}",
            "size": "-" if r["size_bytes"] is None else f"{r['size_bytes'] / 1e6:.0f} MB",
            "sha256": r["sha256"] or "unpublished",
            "local": r["local"],
        }
        table.add_row(*(cell[c] for c in cols))
    # --wide: as wide as the table needs, never truncated (a narrower terminal wraps the lines)
    wide = Console(width=10_000)  # as wide as the table's widest row needs
    console = Console(width=max(Console().width, wide.measure(table).maximum)) if args.wide else Console()
    console.print(table)
    if not args.wide:
        console.print("more columns: --wide (env, noise, seed, size, sha256) or --json")
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
    build_dataset(args.id, workers=args.workers, progress=not args.quiet, force=args.force, cache=not args.no_cache,
                  backend=args.backend, ray_address=args.ray_address)
    return 0


def cmd_download(args) -> int:
    from refexp_envs.datasets.download import download_dataset

    download_dataset(args.id, url=args.url, remote=args.remote, force=args.force, progress=not args.quiet)
    return 0


def cmd_publish(args) -> int:
    from refexp_envs.datasets.publish import publish_dataset

    print(publish_dataset(args.id, args.remote, token=args.token, check=not args.no_check))
    return 0


def cmd_verify(args) -> int:
    from refexp_envs.datasets.download import verify_dataset

    r = verify_dataset(args.id)
    if r.ok:
        cached = (ck.cache_path(r.dataset_id) / "cache.json").is_file()
        print(f"OK {r.dataset_id} sha256 {r.actual} (matches the {r.source})"
              + ("; its pixel cache: every byte matches its record" if cached else ""))
        return 0
    print(f"FAILED {r.dataset_id}\n  expected {r.expected} ({r.source})\n  actual   {r.actual}"
          + (f"\n  {r.diagnosis}" if r.diagnosis else ""), file=sys.stderr)
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
    from refexp_envs.datasets.buffers import build_cache, cache_is_valid

    dataset_id = get_spec(args.id).dataset_id
    intact = cache_is_valid(dataset_id, full=True)  # every byte against the cache's own record
    path = build_cache(dataset_id, progress=True, check=True)  # a damaged cache: a warning, then rebuilt
    print(f"{path}: " + ("intact (every file matches its record)" if intact else "built"))
    return 0


def cmd_bench(args) -> int:
    from refexp_envs.datasets.buffers import benchmark_sampling

    r = benchmark_sampling(get_spec(args.id).dataset_id, batch=args.batch, steps=args.steps, reps=args.reps, cache=not args.no_cache)
    print(json.dumps(r, indent=2))
    return 0


def disk_full_message(exc: OSError, dataset_id: str | None) -> str:
    """One line for a full disk (or quota) during a build, download or cache: where, how much is
    free, how much the dataset needs, and what to do (finished shards are kept for a rerun)."""
    import shutil
    from pathlib import Path

    root = ck.datasets_root()
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 1e6
    spec = REGISTRY.get(dataset_id) if dataset_id else None
    need = "" if spec is None or spec.size_bytes is None else f"; {dataset_id} takes about {spec.size_bytes / 1e6:.0f} MB"
    where = f" writing {exc.filename}" if exc.filename else ""
    return (f"no space left on the disk of {root}{where} ({free:.0f} MB free{need}): free some space or set "
            f"MINARI_DATASETS_PATH to a larger disk, then run the same command again (finished parts are kept)")


def int_at_least(minimum: int):
    """An argparse type: an integer >= minimum (else a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


ID_HELP = "a registered dataset id (python -m refexp_envs.datasets list)"


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommand parsers (for usage errors that name the subcommand)."""
    fmt = DefaultsHelpFormatter
    p = argparse.ArgumentParser(
        prog="python -m refexp_envs.datasets",
        description="RefExp offline datasets (Minari format): list, info, build, download, verify, path, publish. "
        "Exit status: 0 ok, 1 failed (e.g. missing dataset, checksum mismatch), 2 usage error.",
        formatter_class=fmt,
    )
    sub = p.add_subparsers(dest="command", required=True)
    subs: dict[str, argparse.ArgumentParser] = {}

    def add(name: str, fn, text: str) -> argparse.ArgumentParser:
        sp = subs[name] = sub.add_parser(name, help=text, description=text, formatter_class=fmt)
        sp.set_defaults(fn=fn)
        return sp

    ls = add("list", cmd_list, "all registered ids and their local status")
    ls.add_argument("--wide", action="store_true", help="every column (env, noise, seed, size, sha256)")
    ls.add_argument("--json", action="store_true", help="every field of every id, as JSON")
    for name, fn, text in [
        ("info", cmd_info, "size, episodes per task, behaviour success, checksum"),
        ("verify", cmd_verify, "check a local dataset against its SHA-256 (and its pixel cache, every byte); "
                               "explain a mismatch (another renderer, corruption)"),
        ("path", cmd_path, "where the dataset lives (Minari's dataset directory)"),
        ("cache", cmd_cache, "check the pixel cache used by load_task_buffers (full checksums); (re)build it"),
    ]:
        add(name, fn, text).add_argument("id", help=ID_HELP)
    b = add("build", cmd_build, "regenerate from the generation seed (resumable)")
    b.add_argument("id", help=ID_HELP)
    b.add_argument("--workers", type=int_at_least(0), default=0, help="collector processes (0 = all cores)")
    b.add_argument("--force", action="store_true", help="rebuild even if present")
    b.add_argument("--no-cache", action="store_true", help="skip building the pixel cache")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    from refexp_envs.backend import add_backend_args

    add_backend_args(b)
    d = add("download", cmd_download, "fetch through a Minari remote (or the archive mirror), verify against the pin, install")
    d.add_argument("id", help="registered id, or a full Minari remote id hf://<org>/refexp/...")
    d.add_argument("--remote", help="a Minari remote hf://<org> (if omitted: $MINARI_REMOTE; without either, the mirror)")
    d.add_argument("--url", help=f"base URL of the archive mirror (if omitted: ${BASE_URL_ENV} or {base_url()})")
    d.add_argument("--force", action="store_true", help="replace a local copy")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    m = add("bench", cmd_bench, "time sampling a batch of sequences")
    m.add_argument("id", help=ID_HELP)
    m.add_argument("--batch", type=int_at_least(1), default=32, help="sequences per batch")
    m.add_argument("--steps", type=int_at_least(1), default=150, help="steps per sequence")
    m.add_argument("--reps", type=int_at_least(1), default=20, help="batches timed")
    m.add_argument("--no-cache", action="store_true", help="read from parquet instead of the cache")
    u = add("publish", cmd_publish, "maintainers: upload a pinned, verified dataset to a Minari remote, then check it")
    u.add_argument("id", help=ID_HELP)
    u.add_argument("--remote", default=os.environ.get("MINARI_REMOTE"),
                   help="the Minari remote hf://<org> (if omitted: $MINARI_REMOTE)")
    u.add_argument("--token", help="Hugging Face token with write access (if omitted: $HF_TOKEN or the hub's login)")
    u.add_argument("--no-check", action="store_true", help="skip downloading it back and verifying the pin")
    k = add("pack", cmd_pack, "maintainers: write the release archive of a local dataset (the mirror)")
    k.add_argument("id", help=ID_HELP)
    k.add_argument("--out", default="dist/datasets", help="output directory")
    return p, subs


def _check_id(args, subs) -> None:
    """An unknown id is a usage error (exit 2), refused before anything heavy is imported."""
    dataset_id = getattr(args, "id", None)
    if dataset_id is None or (args.command == "download" and "://" in dataset_id):
        return
    try:
        get_spec(dataset_id)
    except UnknownDatasetError as e:
        subs[args.command].error(str(e))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 runtime failure, 2 usage error)."""
    parser, subs = make_parser()
    try:
        args = parser.parse_args(argv)
        _check_id(args, subs)
        if args.command == "build":
            from refexp_envs.backend import backend_from_args

            backend_from_args(subs["build"], args)
        if args.command == "publish" and not args.remote:
            subs["publish"].error("no remote: pass --remote hf://<org> or set MINARI_REMOTE")
    except SystemExit as e:  # argparse: --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    from refexp_envs.datasets.build import DatasetBuildError
    from refexp_envs.datasets.buffers import DatasetNotFoundError
    from refexp_envs.datasets.download import DownloadError

    try:
        return args.fn(args)
    except (UnknownDatasetError, DatasetNotFoundError, DownloadError, DatasetBuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"error: {disk_full_message(e, getattr(args, 'id', None))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command == "build":
            print(
                f"\ninterrupted: finished shards are kept; run the same build command again to resume",
                file=sys.stderr,
            )
        return 130
