"""framefix: repair flicker, color drift and temporal inconsistency in video, frame by frame.

Array conventions (the README keeps the full table): frames are ``(H, W)`` or ``(H, W, C)`` with
C in 1, 3, 4, channels last, any strides; dtypes uint8, uint16 or float32 (nominally 0..1);
flows are ``(H, W, 2)`` float32 ``(dx, dy)`` in pixels with ``prev[y, x] ~ next[y + dy, x + dx]``.
"""

from importlib import resources as _resources

from framefix._backend import backend_info, set_workers, use_backend
from framefix.color import (ColorDistance, ColorTransform, ciede2000, color_distance, fit_color_transform,
                            match_histograms, read_cube, transfer_color)
from framefix.conform import ConformResult, conform_clip
from framefix.deflicker import Deflicker, LocalDeflicker, deflicker
from framefix.flicker import FlickerReport, ShotFlicker, excluded_frames, measure_flicker
from framefix.flow import estimate_flow, flow_consistency, flow_to_color, read_flo, write_flo
from framefix.io import ClipError, ClipInfo, open_clip
from framefix.pipeline import Operation, apply_operations, process_clip
from framefix.shots import TransitionTracker, Transitions, detect_transitions
from framefix.stats import FrameStatistics, frame_statistics
from framefix.temporal import WarpingResult, temporal_inconsistency, warping_error
from framefix.warp import remap, warp

__version__ = "0.1.0"

__all__ = [
    "ClipError",
    "ClipInfo",
    "ColorDistance",
    "ColorTransform",
    "ConformResult",
    "Deflicker",
    "FlickerReport",
    "FrameStatistics",
    "LocalDeflicker",
    "Operation",
    "ShotFlicker",
    "TransitionTracker",
    "Transitions",
    "WarpingResult",
    "__version__",
    "apply_operations",
    "backend_info",
    "ciede2000",
    "color_distance",
    "conform_clip",
    "deflicker",
    "detect_transitions",
    "estimate_flow",
    "excluded_frames",
    "fit_color_transform",
    "flow_consistency",
    "flow_to_color",
    "frame_statistics",
    "get_cmake_dir",
    "get_include",
    "match_histograms",
    "measure_flicker",
    "open_clip",
    "process_clip",
    "read_cube",
    "read_flo",
    "remap",
    "set_workers",
    "temporal_inconsistency",
    "transfer_color",
    "use_backend",
    "warp",
    "warping_error",
    "write_flo",
]


def get_include() -> str:
    """Directory holding framefix's header-only C++ kernels.

    Add it to a compiler's include path to ``#include <framefix/framefix.hpp>``; CMake users take
    ``framefix::kernels`` from `get_cmake_dir` instead, which also brings the compile options the
    kernels' results depend on.

    Returns
    -------
    str
        ``.../framefix/include``, in the installed package (editable installs too).

    Examples
    --------
    >>> import os, framefix
    >>> os.path.isfile(os.path.join(framefix.get_include(), "framefix", "warp.hpp"))
    True
    """
    return str(_resources.files("framefix") / "include")


def get_cmake_dir() -> str:
    """Directory holding framefix's CMake package (``framefixConfig.cmake``).

    Pass it as ``-Dframefix_DIR=...`` (or prepend it to ``CMAKE_PREFIX_PATH``), then
    ``find_package(framefix CONFIG REQUIRED)`` and link ``framefix::kernels``: the header-only
    kernels with C++17, threads and the floating-point options that make their results match
    framefix's bit for bit. scikit-build-core projects need no path: framefix registers it as a
    ``cmake.root`` entry point.

    Returns
    -------
    str
        ``.../framefix/share/cmake/framefix``, in the installed package (editable installs too).

    Examples
    --------
    >>> import os, framefix
    >>> os.path.isfile(os.path.join(framefix.get_cmake_dir(), "framefixConfig.cmake"))
    True

    In a shell: ``cmake -S . -B build -Dframefix_DIR="$(python -c 'import framefix;
    print(framefix.get_cmake_dir())')"``.
    """
    return str(_resources.files("framefix") / "share" / "cmake" / "framefix")
