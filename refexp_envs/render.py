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

RENDERER_ENV = "REFEXP_RENDERER"  # "llvmpipe": Mesa's software rasteriser, the pinned datasets' renderer
CANONICAL = "llvmpipe"
# Where glvnd's EGL finds Mesa (Debian/Ubuntu, Fedora/Arch, glvnd's system-wide folder)
MESA_EGL_VENDOR_FILES = ("/usr/share/glvnd/egl_vendor.d/50_mesa.json", "/etc/glvnd/egl_vendor.d/50_mesa.json")

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


def select_renderer(environ=os.environ) -> str | None:
    """Apply `REFEXP_RENDERER` to `environ` (the GL libraries read these variables when the first GL
    context is made): "llvmpipe" selects Mesa's software renderer through glvnd's EGL even where an
    NVIDIA driver is installed, so that frames have the pinned datasets' bytes on any Linux machine;
    unset or "default" leaves the driver's choice. Variables the user set win. Returns the choice."""
    choice = environ.get(RENDERER_ENV, "").strip().lower()
    if choice in ("", "default"):
        return None
    if choice != CANONICAL:
        raise RendererError(f"{RENDERER_ENV} must be {CANONICAL!r} or unset, got {environ[RENDERER_ENV]!r}")
    if environ.get("MUJOCO_GL", "egl") not in ("egl", "osmesa"):
        raise RendererError(f"{RENDERER_ENV}=llvmpipe needs MUJOCO_GL=egl (or osmesa), got {environ['MUJOCO_GL']!r}")
    if environ.get("MUJOCO_GL", "egl") == "egl" and not environ.get("__EGL_VENDOR_LIBRARY_FILENAMES"):
        found = [f for f in MESA_EGL_VENDOR_FILES if os.path.isfile(f)]
        if not found:
            raise RendererError(f"{RENDERER_ENV}=llvmpipe needs Mesa's EGL (none of {', '.join(MESA_EGL_VENDOR_FILES)} "
                                "exists): apt-get install libegl-mesa0 libgl1-mesa-dri, or point "
                                "__EGL_VENDOR_LIBRARY_FILENAMES at Mesa's 50_mesa.json")
        environ["__EGL_VENDOR_LIBRARY_FILENAMES"] = found[0]  # glvnd loads Mesa only, not the GPU's vendor
    environ.setdefault("LIBGL_ALWAYS_SOFTWARE", "1")  # Mesa: no hardware driver (e.g. a DRM render node)
    environ.setdefault("GALLIUM_DRIVER", "llvmpipe")  # not softpipe or zink
    environ.setdefault("LP_NATIVE_VECTOR_WIDTH", "256")  # the pins' width, also on CPUs with AVX-512
    return choice


select_renderer()  # before the first GL context (glvnd and Mesa read these variables then)

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
        if os.environ.get(RENDERER_ENV):
            _check_choice(self.gl_info())  # the chosen renderer, or an error: never a silent fallback
        if not _LIVE:  # (re-)register after the backend's handler, so ours runs first (LIFO)
            atexit.unregister(_close_all)
            atexit.register(_close_all)
        _LIVE.add(self)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()  # a fresh array each call

    def gl_info(self) -> dict:
        """What draws this renderer's frames: {"vendor", "renderer", "version"} of its GL context."""
        if self._renderer._gl_context is not None:
            self._renderer._gl_context.make_current()
        return _gl_strings()

    def sync_textures(self, model: mujoco.MjModel) -> None:
        """Use `model.mat_texid` as it is now: the GL context keeps a copy made when it was created."""
        n = model.mat_texid.size
        self._renderer._mjr_context.mat_texid[:n] = model.mat_texid.ravel()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _gl_strings() -> dict:
    from OpenGL import GL

    def text(name: int) -> str | None:
        value = GL.glGetString(name)
        return value.decode(errors="replace") if value else None

    return {"vendor": text(GL.GL_VENDOR), "renderer": text(GL.GL_RENDERER), "version": text(GL.GL_VERSION)}


def gl_info() -> dict:
    """The GL vendor, renderer and version strings of this process's offscreen renderer, with the
    MUJOCO_GL backend, the REFEXP_RENDERER choice and the mujoco version: what made the pixels.
    Uses a live renderer when there is one, else makes (and frees) a tiny one. Raises RendererError
    when REFEXP_RENDERER=llvmpipe is set but another renderer answers."""
    live = next(iter(_LIVE), None)
    if live is not None and live._renderer is not None:
        strings = live.gl_info()
    else:
        probe = SmallRenderer(mujoco.MjModel.from_xml_string("<mujoco/>"), 8, None)
        try:
            strings = probe.gl_info()
        finally:
            probe.close()
    _check_choice(strings)
    return {**strings, "MUJOCO_GL": os.environ.get("MUJOCO_GL"), RENDERER_ENV: os.environ.get(RENDERER_ENV) or None,
            "mujoco": mujoco.__version__}


def _check_choice(strings: dict) -> None:
    """RendererError unless the GL strings show the renderer that REFEXP_RENDERER chose."""
    choice = (os.environ.get(RENDERER_ENV) or "").strip().lower()
    if choice == CANONICAL and CANONICAL not in (strings["renderer"] or "").lower():
        raise RendererError(f"{RENDERER_ENV}=llvmpipe was set but the GL renderer is {strings['renderer']!r} "
                            f"({strings['vendor']}): set {RENDERER_ENV} before the process makes its first GL context")
