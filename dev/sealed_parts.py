"""`python dev/sealed_parts.py FACTOR <benchmark.run args>`: score on RefExp/TwoDrawerSealedShift-v2 with
one factor of every trial's sealed look held at TwoDrawer-v1's look (leave one factor out; every other
factor as the secret draws it), for a per-factor breakdown of a shift agent's score.

FACTOR is one of `refexp_envs.looks.FACTORS`, or `none` (the full sealed look, for the comparison).
Like dev/shift_parts.py, it sets the registered id's `look_left_out` in this process and in the
harness's spawned workers (they import this file as their main module), so nothing here changes a
registered env for anyone else; the results file names the env as usual, so keep these runs in their
own --out directory. Score development variants on the development secret only (REFEXP_EVAL_SECRET).

    for f in none drawer_colour drawer_texture table light camera fov background distractors; do
      python dev/sealed_parts.py $f --agent ours-randtex --env RefExp/TwoDrawerSealedShift-v2 \\
          --seeds 0 1 2 3 4 --out runs/sealed-parts/$f
    done
"""
import os
import sys

import gymnasium as gym

import refexp_envs  # noqa: F401  (registers the ids)
from refexp_envs.looks import FACTORS

ENV = "RefExp/TwoDrawerSealedShift-v2"
FACTOR = os.environ.get("SEALED_LEFT_OUT") or (sys.argv[1] if len(sys.argv) > 1 else "")  # workers read the environment
if FACTOR in FACTORS:
    gym.spec(ENV).kwargs["look_left_out"] = (FACTOR,)  # read when an env of this id is made

if __name__ == "__main__":
    if FACTOR not in (*FACTORS, "none"):
        sys.exit(f"usage: python dev/sealed_parts.py FACTOR <benchmark.run args>; FACTOR one of {['none', *FACTORS]}, "
                 f"got {FACTOR!r}")
    if "--env" not in sys.argv[2:]:
        sys.exit(f"pass --env {ENV}: the breakdown is of the sealed shift")
    os.environ["SEALED_LEFT_OUT"] = FACTOR
    from benchmark import run

    sys.exit(run.main(sys.argv[2:]))
