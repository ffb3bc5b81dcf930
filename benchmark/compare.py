"""Compare two results files of the same trials, trial by trial.

    python -m benchmark.compare A.json B.json

Two runs of the same protocol (env, K, training seeds, evaluation seed, secret, trials per task)
play the same trials: the same tasks in the same order and the same reset seeds. This says whether
they are, and in how many trials the outcomes (success per episode) and the action sequences differ:
for example an fp16 bundle against the fp32 weights it was rounded from, or `--batch 8` against
`--batch 1`. Exit status: 0 the same outcomes, 1 outcomes differ, 2 the files are not comparable.
"""

from __future__ import annotations

import argparse
import json
import sys

PROTOCOL_KEYS = ("env_id", "episodes", "training_seeds", "eval_seed", "secret_id", "trials_per_task")


def compare(a: dict, b: dict) -> dict:
    """Per-trial differences of two results dicts of one protocol (ValueError if not comparable)."""
    bad = [k for k in PROTOCOL_KEYS if a.get(k) != b.get(k)]
    if bad:
        raise ValueError("not the same trials: " + ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in bad))
    if a["raw_tasks"] != b["raw_tasks"]:
        raise ValueError("the task order differs although the protocol is the same: not comparable")
    trials = outcome = actions = 0
    cells = []
    for s, seed in enumerate(a["training_seeds"]):
        for t, (sa, sb) in enumerate(zip(a["raw_successes"][s], b["raw_successes"][s])):
            trials += 1
            actions += a["raw_rollouts"][s][t] != b["raw_rollouts"][s][t]
            if sa != sb:
                outcome += 1
                cells.append({"seed": seed, "trial": t, "task": a["raw_tasks"][s][t], "a": sa, "b": sb})
    return {"trials": trials, "outcomes_differ": outcome, "actions_differ": actions, "differing": cells,
            "success_rate": (a["success_rate"], b["success_rate"])}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.compare", description=__doc__.split("\n\n")[0],
                                epilog="Exit status: 0 same outcomes, 1 outcomes differ, 2 not comparable or bad input.")
    p.add_argument("a", help="a results JSON (python -m benchmark.run)")
    p.add_argument("b", help="another results JSON of the same protocol")
    args = p.parse_args(argv)
    try:
        res = compare(*(json.loads(open(f).read()) for f in (args.a, args.b)))
    except (OSError, ValueError, KeyError) as exc:
        p.error(str(exc))
    print(f"{res['trials']} trials: outcomes differ in {res['outcomes_differ']}, action sequences in {res['actions_differ']}")
    print("success per episode: a " + " / ".join(f"{x:.3f}" for x in res["success_rate"][0])
          + ", b " + " / ".join(f"{x:.3f}" for x in res["success_rate"][1]))
    for c in res["differing"]:
        print(f"  seed {c['seed']} trial {c['trial']} (task {c['task']}): a {c['a']} b {c['b']}")
    return 1 if res["outcomes_differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
