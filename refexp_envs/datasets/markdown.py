"""`python -m refexp_envs.datasets.markdown`: print the dataset registry as a markdown table (the
tables of docs/datasets.md are made with it)."""

from __future__ import annotations

import argparse

from refexp_envs.datasets.registry import markdown_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m refexp_envs.datasets.markdown", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", type=int, default=None, help="only this dataset version (if omitted: all)")
    args = parser.parse_args(argv)
    print(markdown_table(args.version))


if __name__ == "__main__":
    main()
