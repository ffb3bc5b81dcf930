"""The child side of `verify`: read the evaluation secret from stdin, then run the harness.

    python -m leaderboard.rerun HARNESS-ARGS... < secret

The secret never appears in this process's command line or environment (both readable by any
process of the same user, and inherited by the harness's spawned workers); it reaches the harness
as an argument of `benchmark.run.main` in memory only.
"""

import sys

from benchmark.run import main

secret = sys.stdin.readline().rstrip("\n")
if not secret:
    print("error: no evaluation secret on stdin", file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[1:] + ["--eval-secret", secret]))
