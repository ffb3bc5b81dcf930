"""`python dev/shift_parts.py PART <benchmark.run args>`: score on RefExp/TwoDrawerShift-v1 with only
PART of the shift's look (drawer colour, table, light, camera), for dev/shift-parts.sh.

It replaces `scene.Appearance.shifted` in this process and in the harness's spawned workers (they
import this file as their main module), so nothing here changes a registered env."""
import dataclasses
import os
import sys

from refexp_envs import scene

FULL = scene.Appearance.shifted()
PARTS = {
    "table-only": scene.Appearance(table_rgba=FULL.table_rgba),  # the untextured blue-grey table
    "no-table": dataclasses.replace(FULL, table_rgba=None),  # all but the table
    "camera-only": scene.Appearance(camera_offset=FULL.camera_offset),
    "colour-light": dataclasses.replace(FULL, table_rgba=None, camera_offset=(0.0, 0.0, 0.0)),
}
PART = os.environ.get("SHIFT_PART") or (sys.argv[1] if len(sys.argv) > 1 else "")  # the workers read it from the environment
scene.Appearance.shifted = staticmethod(lambda: PARTS[PART])  # looked up when an env is made

if __name__ == "__main__":
    if PART not in PARTS:
        sys.exit(f"unknown part {PART!r}; expected one of {sorted(PARTS)}")
    os.environ["SHIFT_PART"] = PART
    from benchmark import run

    sys.exit(run.main(sys.argv[2:]))
