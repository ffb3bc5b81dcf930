"""Fast small-image offscreen rendering.

Headless CPU rendering (Mesa llvmpipe) dominates the cost of a pixel step. The model is compiled
with an offscreen buffer the size of the image and no shadow map or multisampling (see
`scene.build_model`); here we also switch off reflections and shadows in the scene flags.
"""

from __future__ import annotations

import atexit
import os
import weakref

# Must happen before `mujoco` is imported anywhere for it to take effect; a user's own setting wins.
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402


class RendererError(RuntimeError):
    """The OpenGL backend could not start."""


def _advice(exc: BaseException) -> str:
    backend = os.environ.get("MUJOCO_GL", "<unset>")
    return (
        f"MuJoCo could not start an offscreen renderer with MUJOCO_GL={backend!r} "
        f"({type(exc).__name__}: {exc}). Try MUJOCO_GL=egl (headless GPU or Mesa; Debian packages "
        "libegl1 and libgl1-mesa-dri), MUJOCO_GL=osmesa (pure software, needs libosmesa6) or "
        "MUJOCO_GL=glfw (a display), or use obs_type='state'. MUJOCO_GL is read when mujoco is "
        "first imported: set it in the shell, or import refexp_envs first."
    )


try:
    import mujoco  # noqa: E402  (imports the GL backend that MUJOCO_GL names)
except ModuleNotFoundError as exc:
    if exc.name != "mujoco":  # a GL binding missing, not MuJoCo itself
        raise RendererError(_advice(exc)) from None
    raise
except Exception as exc:  # e.g. osmesa without libOSMesa: AttributeError deep inside PyOpenGL
    raise RendererError(_advice(exc)) from None


class _Renderer(mujoco.Renderer):
    """`mujoco.Renderer` whose destructor stays quiet when `__init__` failed half-way (otherwise
    Python prints an `Exception ignored in Renderer.__del__` traceback after our RendererError)."""

    def __del__(self) -> None:
        try:
            super().__del__()
        except Exception:
            pass


_LIVE: "weakref.WeakSet[SmallRenderer]" = weakref.WeakSet()


def _close_all() -> None:
    """Free GL contexts before the GL backend's own exit handler tears the display down."""
    for renderer in list(_LIVE):
        renderer.close()


class SmallRenderer:
    """Renders one fixed camera to `uint8 (size, size, 3)` images."""

    def __init__(self, model: mujoco.MjModel, size: int, camera: str):
        self._renderer = None
        try:
            self._renderer = _Renderer(model, height=size, width=size)
        except Exception as exc:  # the GL errors differ by backend: catch them all, say what to do
            raise RendererError(_advice(exc)) from None
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self._camera = camera
        if not _LIVE:  # (re-)register after the backend's handler, so ours runs first (LIFO)
            atexit.unregister(_close_all)
            atexit.register(_close_all)
        _LIVE.add(self)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()  # a fresh array each call

    def sync_textures(self, model: mujoco.MjModel) -> None:
        """Use `model.mat_texid` as it is now: the GL context keeps a copy made when it was created."""
        n = model.mat_texid.size
        self._renderer._mjr_context.mat_texid[:n] = model.mat_texid.ravel()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
