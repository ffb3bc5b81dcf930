"""The leaderboard's command line: `python -m leaderboard {submit,withdraw,render,rebuild,check,verify,keygen}`.

Exit codes (as every RefExp CLI, and in `--help`): 0 done; 1 refused (a rejected submission, a
failed check, a verification that did not verify: each with the reason); 2 a usage error
(argparse's convention; also a results file that does not exist).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from leaderboard import board, signing
from leaderboard.verify import VerifyConfig
from refexp_envs.helpformat import DefaultsHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    fmt = DefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m leaderboard", formatter_class=fmt,
                                     description="The RefExp leaderboard: submit results, render the pages, check, verify.",
                                     epilog="Exit status: 0 done; 1 refused (a rejected submission, a failed check, a "
                                     "verification that did not verify: each with the reason); 2 usage error (a bad "
                                     "flag, a results file that does not exist).")
    parser.add_argument("--dir", default=str(board.LEADERBOARD_DIR), help="leaderboard directory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("submit", formatter_class=fmt, help="validate a results JSON and add its row")
    p.add_argument("results", help="a results JSON written by python -m benchmark.run")
    p.add_argument("--replace", action="store_true", help="replace the row of the same agent version on that env (else refused)")
    sub.add_parser("render", formatter_class=fmt, help="rebuild the pages and plots from results.csv and the kept files")
    sub.add_parser("rebuild", formatter_class=fmt, help="re-derive every row of results.csv from its kept file and record, then render")
    p = sub.add_parser("withdraw", formatter_class=fmt, help="remove an agent version's rows (a superseded checkpoint)")
    p.add_argument("agent")
    p.add_argument("version")
    p.add_argument("--env", default=None, help="only this env's row (if omitted: every env)")
    p = sub.add_parser("check", formatter_class=fmt, help="validate every leaderboard file against results.csv (CI runs it)")
    p.add_argument("--public-key", default=str(signing.PUBLIC_KEY_PATH), help="Ed25519 public key (PEM) of verification records")
    p = sub.add_parser("verify", formatter_class=fmt, help="re-run a row's agent with the secret key and fresh seeds; sign the outcome")
    for f in dataclasses.fields(VerifyConfig):
        flag = f.name if f.name == "results" else "--" + f.name.replace("_", "-")
        kind = {"float": float, "int | None": int, "int": int}.get(str(f.type), None)
        kwargs = {"help": f.metadata["help"]}
        if f.name != "results":
            kwargs["default"] = f.default
        if kind is not None:
            kwargs["type"] = kind
        p.add_argument(flag, **kwargs)
    p.add_argument("--public-key", default=str(signing.PUBLIC_KEY_PATH), help="the public key the signing key must match")
    p = sub.add_parser("keygen", formatter_class=fmt, help="make a new Ed25519 key pair (maintainers)")
    p.add_argument("--private-key", required=True, help="where to write the private key (outside the repository)")
    p.add_argument("--public-key", default=str(signing.PUBLIC_KEY_PATH), help="where to write the public key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    paths = board.Paths(Path(args.dir))
    try:
        return _run(args, paths, parser)
    except board.Rejected as exc:
        print(f"rejected: {exc}", file=sys.stderr)
        return 1


def _run(args, paths: board.Paths, parser: argparse.ArgumentParser) -> int:
    if args.command == "submit":
        if not Path(args.results).is_file():  # a mistyped path is a usage error, not a rejection
            parser.error(f"no results file at {args.results}")
        try:
            row, replaced = board.submit(args.results, paths.root, replace=args.replace)
        except ValueError as exc:  # a malformed CSV or kept file
            parser.error(str(exc))
        for old in replaced:
            print(f"replaced: {old['agent']} {old['agent_version']} on {old['env_id']} (row {old['row_id']})")
        print(f"accepted: {row['agent']} {row['agent_version']} on {row['env_id']} (K={row['episodes']}, protocol "
              f"{row['protocol']}): {row['score_name']} score {float(row['score']):.3f} "
              f"[{float(row['score_ci_low']):.3f}, {float(row['score_ci_high']):.3f}]")
        return 0
    if args.command == "withdraw":
        for r in board.withdraw(args.agent, args.version, paths.root, args.env):
            print(f"withdrew: {r['agent']} {r['agent_version']} on {r['env_id']} (K={r['episodes']})")
        return 0
    if args.command == "render":
        try:
            board.render(paths)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"rendered the pages and plots under {paths.root} from {paths.csv}")
        return 0
    if args.command == "rebuild":
        try:
            rows = board.rebuild(paths.root)
        except (ValueError, OSError) as exc:
            parser.error(str(exc))
        print(f"rebuilt {len(rows)} rows of {paths.csv} from their kept files, and the pages")
        return 0
    if args.command == "check":
        from leaderboard.check import check

        problems = check(paths, Path(args.public_key))
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
        if problems:
            print(f"check failed: {len(problems)} problem(s) under {paths.root}", file=sys.stderr)
            return 1
        print(f"check passed: {paths.root} is consistent with {paths.csv}")
        return 0
    if args.command == "keygen":
        priv, pub = Path(args.private_key), Path(args.public_key)
        if priv.exists():
            parser.error(f"{priv} exists: refusing to overwrite a private key")
        signing.generate(priv, pub)
        print(f"wrote the private key {priv} (keep it out of the repository) and the public key {pub}")
        return 0
    from leaderboard import verify

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(VerifyConfig)}
    try:
        cfg = VerifyConfig(**values)
        row, outcome = verify.verify(cfg, paths.root, public_key_path=Path(args.public_key))
    except ValueError as exc:
        parser.error(str(exc))
    print(f"{outcome.status}: {row['agent']} {row['agent_version']} on {row['env_id']} (row {row['row_id']}): {outcome.reason}")
    return 0 if outcome.status == "verified" else 1
