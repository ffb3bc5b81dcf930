"""A command line generated from a config dataclass: one flag per field, its help the field's `help`.

Shared by the family train commands; usage errors exit 2 (argparse's), before heavy imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import typing
from typing import Any, Callable, Sequence

from refexp_envs.helpformat import DefaultsHelpFormatter


def field_help(help_: str) -> dict:
    """`dataclasses.field` metadata holding a field's one-line help (the CLI shows it)."""
    return {"help": help_}


def build_parser(cls: type, prog: str, description: str, required: Sequence[str] = ()) -> argparse.ArgumentParser:
    """`--flag` per field of dataclass `cls` (`--obs-type` for obs_type); bools get `--x/--no-x`."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=DefaultsHelpFormatter,
                                epilog="Exit status: 0 done, 1 failed, 2 usage error, 130 interrupted (rerun to resume).")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"help": f.metadata.get("help", "")}
        if f.name in required:
            kw["required"] = True
        else:
            kw["default"] = f.default
        typ = hints[f.name]
        if typ is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif typ in (int, float, str):
            kw["type"] = typ
        elif typ == (int | None):
            kw["type"] = int
        elif typ == (str | None):
            kw["type"] = str
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no CLI for type {typ}")
        p.add_argument(flag, **kw)
    return p


def parse_config(cls: type, argv: Sequence[str] | None, prog: str, description: str, required: Sequence[str] = ()):
    """The validated config from `argv`; a bad value is a usage error (exit 2) naming it."""
    p = build_parser(cls, prog, description, required)
    args = vars(p.parse_args(argv))
    try:
        return cls(**args)
    except (ValueError, TypeError) as exc:
        p.error(str(exc))


def run_train_command(cls: type, argv: Sequence[str] | None, prog: str, description: str,
                      train: Callable[[Any, Callable[[str], None]], dict], resume_file: Callable[[Any], Any],
                      hint: Callable[[Any, dict], str] | None = None) -> int:
    """A family's train command: parse `cls` from `argv`, `train(cfg, log)`, print its summary as JSON
    (then `hint(cfg, summary)`, if given). Ctrl-C says which file a rerun resumes from
    (`resume_file(cfg)`) and exits 130; a failure exits 1."""
    cfg = parse_config(cls, argv, prog, description)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    try:
        summary = train(cfg, log)
    except KeyboardInterrupt:
        log(f"interrupted: rerun the same command to resume from {resume_file(cfg)}")
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, default=str))
    if hint is not None:
        print(hint(cfg, summary))
    return 0
