"""The child side of `verify`: read the evaluation secret from stdin, then run the harness.

    python -m leaderboard.rerun HARNESS-ARGS... < secret

The secret never appears in this process's command line or environment (both readable by any
process of the same user, and inherited by the harness's spawned workers); it reaches the harness
as an argument of `benchmark.run.main` in memory only. (The guard matters: spawned workers import
this module again, as `__mp_main__`.)
"""

import sys


def main() -> int:
    from benchmark.run import main as harness

    secret = sys.stdin.readline().rstrip("\n")
    if not secret:
        print("error: no evaluation secret on stdin", file=sys.stderr)
        return 2
    return harness(sys.argv[1:] + ["--eval-secret", secret])


if __name__ == "__main__":
    sys.exit(main())
