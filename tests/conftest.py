"""Shared test setup: headless rendering before anything imports mujoco."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import refexp_envs  # noqa: E402,F401  (registers RefExp/* ids)
