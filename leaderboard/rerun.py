"""The child side of `verify`: the harness, reading the evaluation secret from stdin.

    python -m leaderboard.rerun HARNESS-ARGS... < secret

The secret never appears in this process's command line or environment (both readable through
/proc); the harness reads it from stdin (`--eval-secret-file -`) and keeps it in memory only, in a
non-dumpable process. (The guard matters: spawned workers import this module again, as `__mp_main__`.)
"""

import sys


def main() -> int:
    from benchmark.run import main as harness

    return harness(sys.argv[1:] + ["--eval-secret-file", "-"])


if __name__ == "__main__":
    sys.exit(main())
