"""framefix used from other compiled code: the C ABI of framefix.cython_kernels (every function,
its status codes), the three consumers in examples/ built against the installed package, and
the CMake package they find.

The C functions are called here through ctypes, by the same addresses Numba uses
(numba.extending.get_cython_function_address); the Cython consumer cimports them, the CMake
consumer compiles the headers. Results must equal the Python API's bit for bit. Building the
consumers needs a C++ compiler, cmake and ninja (the ``test`` extras bring the Python tools);
they are built once per session.
"""

import ctypes
import importlib.resources
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from numba.extending import get_cython_function_address
from numpy.testing import assert_array_equal

import framefix
import framefix.cython_kernels as cython_kernels
import framefix.flow
from framefix import _core
from parity import assert_same

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
Status = cython_kernels.Status
P, N = ctypes.c_void_p, ctypes.c_ssize_t  # pointer (an address or None), Py_ssize_t
I, F = ctypes.c_int, ctypes.c_float

IMAGE = [P, N, N, N, N, N, N]  # data, height, width, channels, stride_y, stride_x, stride_c
SIGNATURES = {
    "warp": IMAGE + [P, N, N, N] + [P, N, N, N, N, N] + [P, N, N] + [I, I, F, N],
    "remap": IMAGE + [P, N, N, P, N, N] + [P, N, N, N, N, N] + [P, N, N] + [I, I, F, N],
    "channel_histograms": IMAGE + [P, N, N, P, N, N],
    "apply_lut": IMAGE + [P, N, P, N, N, N, N],
    "frame_sums": IMAGE + [N, N, P, P, P, P, P, N],
    "apply_tone_curves": IMAGE + [P, P, N, N, P, N, N, N, N],
    "flow_luma": IMAGE + [P, N, N, N],
    "flow_from_luma": [P, N, N, N, N, P, N, N, P, N, N, N, N, N, P, N, N, N] + [N, N, N, N, I, F, F, F, N, N, N, N, I, N, F, N, F, N],
}
SUFFIX = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.float32): "f32"}
EXPORTED = sorted(
    [f"{kernel}_{s}" for kernel in ("warp", "remap", "frame_sums", "apply_tone_curves", "flow_luma")
     for s in ("u8", "u16", "f32")]
    + [f"{kernel}_{s}" for kernel in ("channel_histograms", "apply_lut") for s in ("u8", "u16")]
    + ["flow_from_luma"])


def c_function(name):
    kernel = name.rsplit("_", 1)[0] if name.endswith(("_u8", "_u16", "_f32")) else name
    prototype = ctypes.CFUNCTYPE(ctypes.c_int, *SIGNATURES[kernel])
    return prototype(get_cython_function_address("framefix.cython_kernels", name))


def address(a):
    return None if a is None else a.ctypes.data


def view(a):
    """(address, sizes..., strides in elements...) of an (H, W, C) array."""
    return [a.ctypes.data, *a.shape, *(s // a.itemsize for s in a.strides)]


def strides(a):
    return [s // a.itemsize for s in a.strides]


def image(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    return rng.random(shape, dtype=np.float32)


def test_the_module_exports_exactly_the_documented_functions():
    assert sorted(cython_kernels.__pyx_capi__) == EXPORTED
    pxd = importlib.resources.files("framefix") / "cython_kernels.pxd"
    assert pxd.is_file(), "the public .pxd ships with the module"
    declared = [line.split("(")[0].split()[-1] for line in pxd.read_text().splitlines() if line.startswith("cdef int")]
    assert sorted(declared) == EXPORTED
    assert [int(s) for s in Status] == [0, 1, 2, 3, 4, 5]


# --- every C function against the Python API -------------------------------------------------------

DTYPES = (np.uint8, np.uint16, np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_warp_and_remap_equal_the_python_api(dtype):
    src = image(dtype, (23, 31, 3))[:, ::-1]  # a strided view, read in place
    flow = np.random.default_rng(1).normal(0, 4, (23, 31, 2)).astype(np.float32)
    out = np.zeros((23, 31, 3), dtype)
    mask = np.zeros((23, 31), np.uint8)
    status = c_function(f"warp_{SUFFIX[np.dtype(dtype)]}")(
        *view(src), address(flow), *strides(flow), address(out), 23, 31, *strides(out), address(mask),
        *strides(mask), 2, 0, 7.0, 2)  # cubic, constant border with cval 7
    assert status == Status.FRAMEFIX_OK
    expected, inside = framefix.warp(src, np.ascontiguousarray(flow), interpolation="cubic", border="constant",
                                     cval=7, return_mask=True)
    assert_same(expected, out)
    assert_array_equal(mask.astype(bool), inside)

    y, x = np.mgrid[0:19, 0:27].astype(np.float32)
    map_x, map_y = x * 1.3 - 2.5, y * 0.7 + 1.25
    out = np.zeros((19, 27, 3), dtype)
    status = c_function(f"remap_{SUFFIX[np.dtype(dtype)]}")(
        *view(src), address(map_x), *strides(map_x), address(map_y), *strides(map_y), address(out), 19, 27,
        *strides(out), None, 0, 0, 1, 3, 0.0, -1)  # linear, symmetric, every core, no mask
    assert status == Status.FRAMEFIX_OK
    assert_same(framefix.remap(src, map_x, map_y, interpolation="linear", border="symmetric"), out)


@pytest.mark.parametrize("dtype", (np.uint8, np.uint16), ids=lambda d: np.dtype(d).name)
def test_histograms_and_lookup_tables_equal_the_python_api(dtype):
    src = image(dtype, (17, 13, 3))
    mask = (np.random.default_rng(2).random((17, 13)) < 0.5).astype(np.uint8)
    bins = int(np.iinfo(dtype).max) + 1
    counts = np.full((3, bins), -1, np.int64)
    suffix = SUFFIX[np.dtype(dtype)]
    status = c_function(f"channel_histograms_{suffix}")(*view(src), address(mask), *strides(mask), address(counts),
                                                        bins, 1)
    assert status == Status.FRAMEFIX_OK
    assert_array_equal(counts, _core.channel_histograms(src, mask.astype(bool), None, 1))
    assert counts.sum() == 3 * mask.sum()

    lut = np.random.default_rng(3).integers(0, bins, (3, bins), dtype=dtype)
    out = np.empty_like(src)
    status = c_function(f"apply_lut_{suffix}")(*view(src), address(lut), bins, address(out), *strides(out), 2)
    assert status == Status.FRAMEFIX_OK
    assert_array_equal(out, np.stack([lut[c][src[..., c]] for c in range(3)], axis=-1))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("histogram", [True, False], ids=["histogram", "no-histogram"])
def test_frame_sums_equal_the_python_api(dtype, histogram):
    src = image(dtype, (29, 21, 4))
    sums, squares = np.empty(4), np.empty(4)
    luma = np.empty(256, np.int64) if histogram else None
    tile_sums, tile_counts = np.empty((3, 2, 4)), np.empty((3, 2), np.int64)
    status = c_function(f"frame_sums_{SUFFIX[np.dtype(dtype)]}")(
        *view(src), 3, 2, address(sums), address(squares), address(luma), address(tile_sums), address(tile_counts), 2)
    assert status == Status.FRAMEFIX_OK
    assert_same(_core.frame_sums(src, 3, 2, histogram, 1), (sums, squares, luma, tile_sums, tile_counts))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tone_curves_equal_the_python_api(dtype):
    src = image(dtype, (15, 19, 4))
    knots_x = np.array([[0.1, 0.5, 0.9], [0.2, 0.4, 1.0], [0.05, 0.6, 0.95]], np.float32)
    knots_y = np.array([[0.12, 0.55, 0.88], [0.2, 0.5, 0.97], [0.03, 0.62, 1.0]], np.float32)
    out = np.empty_like(src)
    status = c_function(f"apply_tone_curves_{SUFFIX[np.dtype(dtype)]}")(
        *view(src), address(knots_x), address(knots_y), 3, 3, address(out), *strides(out), 1)
    assert status == Status.FRAMEFIX_OK
    assert_same(_core.apply_tone_curves(src, knots_x, knots_y, None, 1), out)
    assert_array_equal(out[..., 3], src[..., 3])  # the alpha channel is copied


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_flow_estimation_equals_estimate_flow(dtype):
    y, x = np.mgrid[0:48, 0:64].astype(np.float32)
    scene = 0.5 + 0.25 * np.sin(x / 5) * np.cos(y / 7)
    top = 1.0 if dtype is np.float32 else float(np.iinfo(dtype).max)
    first = np.repeat((scene * top).astype(dtype)[..., None], 3, axis=2)
    second = framefix.warp(first, np.full((48, 64, 2), -1.5, np.float32), border="reflect")
    lumas = []
    for frame in (first, second):
        plane = np.empty((48, 64), np.float32)
        status = c_function(f"flow_luma_{SUFFIX[np.dtype(dtype)]}")(*view(frame), address(plane), *strides(plane), 1)
        assert status == Status.FRAMEFIX_OK
        assert_same(_core.flow_luma(frame, 1), plane)
        lumas.append(plane)
    settings = framefix.flow.kernel_settings("fast", finest_level=0)
    flow = np.empty((48, 64, 2), np.float32)
    estimate = c_function("flow_from_luma")
    status = estimate(address(lumas[0]), 48, 64, *strides(lumas[0]), address(lumas[1]), *strides(lumas[1]),
                      None, 0, 0, 0, 0, 0, address(flow), *strides(flow), *settings.values(), 2)
    assert status == Status.FRAMEFIX_OK
    assert_same(framefix.estimate_flow(first, second, preset="fast", finest_level=0), flow)
    # from an initial flow, into a strided output
    init = np.random.default_rng(4).normal(0, 0.5, (48, 64, 2)).astype(np.float32)
    strided = np.zeros((48, 64, 4), np.float32)[..., ::2]
    status = estimate(address(lumas[0]), 48, 64, *strides(lumas[0]), address(lumas[1]), *strides(lumas[1]),
                      address(init), 48, 64, *strides(init), strided.ctypes.data, *strides(strided),
                      *settings.values(), 1)
    assert status == Status.FRAMEFIX_OK
    assert_same(framefix.estimate_flow(first, second, preset="fast", finest_level=0, init=init), strided)


# --- status codes ------------------------------------------------------------------------------------

def _valid_calls():
    """For every exported function, a valid argument list (as a list, to be spoilt)."""
    u8, u16, f32 = image(np.uint8, (20, 20, 3)), image(np.uint16, (20, 20, 3)), image(np.float32, (20, 20, 3))
    images = {"u8": u8, "u16": u16, "f32": f32}
    keep = [u8, u16, f32]  # alive until the calls are made

    def new(*args, **kwargs):
        a = np.zeros(*args, **kwargs)
        keep.append(a)
        return a

    flow = new((20, 20, 2), np.float32)
    knots = np.array([[0.0, 1.0]] * 3, np.float32)
    keep.append(knots)
    plane = new((20, 20), np.float32)
    calls = {}
    for s, src in images.items():
        out = new(src.shape, src.dtype)
        calls[f"warp_{s}"] = [*view(src), address(flow), *strides(flow), address(out), 20, 20, *strides(out), None, 0,
                              0, 1, 1, 0.0, 1]
        calls[f"remap_{s}"] = [*view(src), address(plane), *strides(plane), address(plane), *strides(plane),
                               address(out), 20, 20, *strides(out), None, 0, 0, 1, 1, 0.0, 1]
        sums = new(3), new(3), new(256, np.int64), new(3), new(1, np.int64)
        calls[f"frame_sums_{s}"] = [*view(src), 1, 1, *map(address, sums), 1]
        calls[f"apply_tone_curves_{s}"] = [*view(src), address(knots), address(knots), 3, 2, address(out),
                                           *strides(out), 1]
        calls[f"flow_luma_{s}"] = [*view(src), address(plane), *strides(plane), 1]
        if s != "f32":
            bins = int(np.iinfo(src.dtype).max) + 1
            counts, lut = new((3, bins), np.int64), new((3, bins), src.dtype)
            calls[f"channel_histograms_{s}"] = [*view(src), None, 0, 0, address(counts), bins, 1]
            calls[f"apply_lut_{s}"] = [*view(src), address(lut), bins, address(out), *strides(out), 1]
    calls["flow_from_luma"] = [address(plane), 20, 20, *strides(plane), address(plane), *strides(plane), None, 0, 0, 0,
                               0, 0, address(flow), *strides(flow), *framefix.flow.kernel_settings("fast").values(), 1]
    return calls, keep


def test_every_function_reports_null_pointers_bad_sizes_and_bad_arguments():
    calls, keep = _valid_calls()
    assert sorted(calls) == EXPORTED
    for name, arguments in calls.items():
        function = c_function(name)
        assert function(*arguments) == Status.FRAMEFIX_OK, name
        assert function(None, *arguments[1:]) == Status.FRAMEFIX_NULL_POINTER, name  # the input
        height = arguments[:]
        height[1] = 0
        assert function(*height) == Status.FRAMEFIX_BAD_SIZE, name
        width = arguments[:]
        width[2] = -3
        assert function(*width) == Status.FRAMEFIX_BAD_SIZE, name
    # what only the kernels can refuse
    refused = {
        "warp_u8": (20, 7),  # interpolation code 7
        "remap_f32": (23, 9),  # border code 9
        "frame_sums_u16": (7, 50),  # more tile rows than image rows
        "apply_tone_curves_f32": (10, 5),  # more curves than channels
        "flow_from_luma": (18, 1),  # patch 1
        "flow_luma_u8": (3, 2),  # two channels
    }
    for name, (index, value) in refused.items():
        arguments = calls[name][:]
        arguments[index] = value
        assert c_function(name)(*arguments) == Status.FRAMEFIX_BAD_ARGUMENT, name
    for name in ("channel_histograms_u16", "apply_lut_u8"):  # tables shorter than the pixel type's range
        arguments = calls[name][:]
        arguments[11 if name.startswith("channel") else 8] = 255 if name.endswith("u16") else 200
        assert c_function(name)(*arguments) == Status.FRAMEFIX_BAD_SIZE, name
    knots = np.array([[0.5, 0.2]] * 3, np.float32)  # decreasing knot positions
    arguments = calls["apply_tone_curves_u8"][:]
    arguments[7] = address(knots)
    assert c_function("apply_tone_curves_u8")(*arguments) == Status.FRAMEFIX_BAD_ARGUMENT
    del keep


# --- the consumers in examples/ ---------------------------------------------------------------------

def _require_tools(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"building the examples needs {', '.join(missing)} on PATH")


def _run(command, cwd, env=None):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _import_from(directory, name):
    spec = importlib.util.spec_from_file_location(name, next(Path(directory).glob(f"{name}.*.so")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cython_consumer(tmp_path_factory):
    _require_tools("cc")
    work = tmp_path_factory.mktemp("cython-consumer")
    shutil.copytree(EXAMPLES / "cython", work, dirs_exist_ok=True)
    _run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=work)
    return _import_from(work, "clip_kernels")


@pytest.fixture(scope="module")
def cmake_consumer(tmp_path_factory):
    """Built by scikit-build-core with no path to framefix: its cmake.root entry point is the way."""
    _require_tools("c++", "cmake", "ninja")
    work = tmp_path_factory.mktemp("cmake-consumer")
    pybind11 = pytest.importorskip("pybind11")
    # site-packages off: CMake would otherwise find framefix there by its own search rules (and
    # pybind11 is then named)
    _run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "-q",
          "--target", str(work / "site"), f"-Cbuild-dir={work / 'build'}", "-Csearch.site-packages=false",
          f"-Ccmake.define.pybind11_DIR={pybind11.get_cmake_dir()}", str(EXAMPLES / "cmake")], cwd=work)
    return _import_from(work / "site", "clip_kernels_cpp")


def _clip(seed=5):
    rng = np.random.default_rng(seed)
    clip = rng.integers(0, 256, (5, 33, 47, 3), dtype=np.uint8)
    flows = rng.normal(0, 5, (5, 33, 47, 2)).astype(np.float32)
    return clip, flows


def _warped(clip, flows):
    return np.stack([framefix.warp(f, v, interpolation="linear", border="edge") for f, v in zip(clip, flows)])


def test_the_cython_consumer_equals_the_python_api(cython_consumer):
    clip, flows = _clip()
    assert_array_equal(cython_consumer.warp_clip(clip[:, ::-1], flows, workers=2), _warped(clip[:, ::-1], flows))
    assert_same(cython_consumer.mean_levels(clip), clip.mean(axis=(1, 2)))
    knots_x = np.array([[0.2, 0.8]] * 3, np.float32)
    knots_y = np.array([[0.25, 0.7]] * 3, np.float32)
    toned = cython_consumer.tone_clip(clip, knots_x, knots_y)
    assert_array_equal(toned, np.stack([_core.apply_tone_curves(f, knots_x, knots_y, None, 1) for f in clip]))
    bad = np.array([[0.8, 0.2]] * 3, np.float32)
    with pytest.raises(RuntimeError, match="FRAMEFIX_BAD_ARGUMENT"):
        cython_consumer.tone_clip(clip, bad, knots_y)


def test_the_cmake_consumer_equals_the_python_api(cmake_consumer):
    clip, flows = _clip(6)
    assert_array_equal(cmake_consumer.warp_clip(clip, flows, 2), _warped(clip, flows))
    expected = sum(_core.channel_histograms(frame, None, None, 1) for frame in clip)
    assert_array_equal(cmake_consumer.clip_histograms(clip), expected)
    with pytest.raises(TypeError):
        cmake_consumer.warp_clip(clip.astype(np.float64), flows)  # no silent cast


def test_the_cmake_package_gives_the_kernels_target_with_the_build_flags(tmp_path):
    _require_tools("c++", "cmake")
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.21)\nproject(probe LANGUAGES CXX)\n"
        "find_package(framefix CONFIG REQUIRED)\n"
        "get_target_property(options framefix::kernels INTERFACE_COMPILE_OPTIONS)\n"
        "get_target_property(features framefix::kernels INTERFACE_COMPILE_FEATURES)\n"
        "get_target_property(libraries framefix::kernels INTERFACE_LINK_LIBRARIES)\n"
        'message(STATUS "framefix ${framefix_VERSION} include=${framefix_INCLUDE_DIR} options=${options} '
        'features=${features} libraries=${libraries}")\n')
    done = _run(["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "build"),
                 f"-Dframefix_DIR={framefix.get_cmake_dir()}"], cwd=tmp_path)
    line = next(line for line in done.stdout.splitlines() if "framefix " in line and "include=" in line)
    assert f"framefix {framefix.__version__}" in line
    include = line.split("include=")[1].split()[0]
    assert Path(include).resolve() == Path(framefix.get_include()).resolve()
    for flag in ("-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"):
        assert flag in line
    assert "cxx_std_17" in line and "Threads::Threads" in line


def test_the_numba_consumer_runs_nopython_without_the_gil_from_two_threads():
    spec = importlib.util.spec_from_file_location("numba_kernels", EXAMPLES / "numba" / "numba_kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clips = [_clip(seed) for seed in (7, 8)]
    module.warp_clip(clips[0][0][:, ::2], clips[0][1][:, ::2], 1)  # compiled before the threads race to
    assert module.warp_clip.targetoptions["nogil"] and module.warp_clip.targetoptions["nopython"]
    assert len(module.warp_clip.nopython_signatures) == 1
    barrier = threading.Barrier(2)

    def run(clip_flows):
        barrier.wait()
        return module.warp_clip(clip_flows[0][:, ::2], clip_flows[1][:, ::2], 1)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, clips))
    for (clip, flows), (warped, status) in zip(clips, results):
        assert status == module.OK
        assert_array_equal(warped, _warped(clip[:, ::2], flows[:, ::2]))
