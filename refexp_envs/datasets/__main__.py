"""`python -m refexp_envs.datasets ...`: see `refexp_envs.datasets.cli`."""

import sys

from refexp_envs.datasets.cli import main

if __name__ == "__main__":
    sys.exit(main())
