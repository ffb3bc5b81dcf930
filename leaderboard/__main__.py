"""`python -m leaderboard submit RESULTS.json` | `python -m leaderboard render` (see leaderboard.board)."""

import sys

from leaderboard.board import main

sys.exit(main())
