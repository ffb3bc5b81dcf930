"""`python -m refexp_envs.datasets.markdown`: print the dataset registry as a markdown table, or
(`--builds`) the build record of each local copy (the tables of docs/datasets.md are made with it)."""

from __future__ import annotations

import argparse
import time

from refexp_envs.datasets.registry import REGISTRY, markdown_table


def builds_table(version: int | None = None) -> str:
    """One row per registered id (of `version`) built on this machine, from its sidecar: when, with
    how many workers on how many CPUs, the load average at start and end, the wall clock of the
    collection and of the whole build, and whether its SHA-256 is the pin. Ids not present are left out;
    a build older than these records gives its sidecar's time and '-'."""
    from refexp_envs.datasets import checksum as ck

    lines = ["| id | episodes | built (UTC) | workers / CPUs | load average at start, end | collection | whole build | SHA-256 |",
             "|---|---|---|---|---|---|---|---|"]
    for s in sorted(REGISTRY.values(), key=lambda s: (-s.version, s.env_id, s.dataset_id)):
        if version is not None and s.version != version:
            continue
        path = ck.dataset_path(s.dataset_id)
        if not (path / ck.SIDECAR).is_file():
            continue
        r = ck.read_sidecar(path)
        built = r.get("built_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((path / ck.SIDECAR).stat().st_mtime))
        load = r.get("load_average")
        pin = "no pin" if not s.sha256 else ("the pin" if r["sha256"] == s.sha256 else "**differs from the pin**")
        lines.append(f"| `{s.dataset_id}` | {r['episodes']} | {built} | {r['workers']} / {r.get('cpus', '-')} | "
                     f"{'-' if load is None else f'{load[0]}, {load[1]}'} | {r['collect_seconds']:.0f} s | "
                     f"{r['build_seconds']:.0f} s | {pin} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m refexp_envs.datasets.markdown", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", type=int, default=None, help="only this dataset version (if omitted: all)")
    parser.add_argument("--builds", action="store_true", help="the local builds' records instead of the registry")
    args = parser.parse_args(argv)
    print(builds_table(args.version) if args.builds else markdown_table(args.version))


if __name__ == "__main__":
    main()
