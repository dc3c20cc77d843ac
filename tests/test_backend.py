import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import framefix
from framefix import _backend


def run_python(code, **env):
    """Runs code in a fresh interpreter (the backend choice is made once, at import)."""
    environment = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300)


def test_backend_info_reports_what_runs():
    info = framefix.backend_info()
    assert info["active"] in ("native", "numba")
    assert set(info) >= {"active", "requested", "reason", "native_available", "native_error", "native_isa",
                         "native_isa_error", "numba_version", "workers", "cpu_count"}
    assert isinstance(info["native_available"], bool)
    assert (info["native_error"] is None) == info["native_available"]
    assert info["numba_version"]  # a runtime dependency


def test_use_backend_switches_and_restores(native):
    before = framefix.backend_info()["active"]
    with framefix.use_backend("numba"):
        assert framefix.backend_info()["active"] == "numba"
        with framefix.use_backend("native"):
            assert framefix.backend_info()["active"] == "native"
        assert framefix.backend_info()["active"] == "numba"
    assert framefix.backend_info()["active"] == before


def test_use_backend_is_private_to_a_thread(native):
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def other_thread():
        inside.wait()
        seen["other"] = framefix.backend_info()["active"]
        release.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with framefix.use_backend("numba"):
        inside.set()
        release.wait(timeout=60)
        seen["here"] = framefix.backend_info()["active"]
    thread.join()
    assert seen == {"here": "numba", "other": "native"}


def test_use_backend_refuses_unknown_names():
    with pytest.raises(ValueError, match="use_backend: name must be 'native', 'numba' or 'auto', got 'cuda'"):
        with framefix.use_backend("cuda"):
            pass


def test_environment_variable_selects_numba():
    result = run_python("import framefix; print(framefix.backend_info()['active'])", FRAMEFIX_BACKEND="numba")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numba"


def test_environment_variable_rejects_unknown_values():
    result = run_python("import framefix", FRAMEFIX_BACKEND="gpu")
    assert result.returncode != 0
    assert "FRAMEFIX_BACKEND must be 'auto', 'native' or 'numba', got 'gpu'" in result.stderr


MISSING_CORE = "import sys; sys.modules['framefix._core'] = None\n"  # makes `from framefix import _core` fail


def test_missing_core_falls_back_to_numba_under_auto():
    code = MISSING_CORE + (
        "import numpy as np, framefix\n"
        "info = framefix.backend_info()\n"
        "assert info['active'] == 'numba' and not info['native_available'], info\n"
        "assert 'framefix._core' in info['native_error'], info\n"
        "out = framefix.warp(np.ones((4, 4), np.float32), np.zeros((4, 4, 2), np.float32))\n"
        "assert (out == 1).all()\n"
    )
    result = run_python(code, FRAMEFIX_BACKEND="auto")
    assert result.returncode == 0, result.stderr


def test_missing_core_is_an_error_when_native_is_required():
    result = run_python(MISSING_CORE + "import framefix", FRAMEFIX_BACKEND="native")
    assert result.returncode != 0
    assert "FRAMEFIX_BACKEND=native but the compiled module framefix._core could not be imported" in result.stderr


def _native_isa(requested):
    """backend_info()'s native_isa and native_isa_error in a fresh interpreter asked for ``requested``."""
    code = "import framefix; info = framefix.backend_info(); print(info['native_isa'], info['native_isa_error'])"
    done = run_python(code, FRAMEFIX_NATIVE_ISA=requested, FRAMEFIX_BACKEND="native")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(maxsplit=1)


def test_native_backend_runs_the_avx2_build_where_the_cpu_has_it(native):
    import platform

    from framefix import _core

    on_x86 = platform.machine().lower() in ("x86_64", "amd64")
    builds = [build.isa for build in _backend.native_builds()]
    if not (on_x86 and _core.cpu_has_avx2()):
        assert _native_isa("auto") == ["baseline", "None"]
        assert builds == ["baseline"]
    elif sys.platform == "linux":  # built by GCC or Clang, which CMakeLists.txt gives the AVX2 build
        assert _native_isa("auto") == ["avx2", "None"]
        assert builds == ["baseline", "avx2"]
    assert _native_isa("baseline") == ["baseline", "None"]
    assert _backend._native in _backend.native_builds()


def test_native_isa_variable_rejects_unknown_values():
    result = run_python("import framefix", FRAMEFIX_NATIVE_ISA="avx512")
    assert result.returncode != 0
    assert "FRAMEFIX_NATIVE_ISA must be 'auto' or 'baseline', got 'avx512'" in result.stderr


# Real pictures through the kernels whose loops the AVX2 build widens: flow at every preset,
# warps, colour matching and transfer, both deflicker stages, and the sums over frames of the
# statistics and the measures along the motion (where a wider vector would change a result first).
ISA_WORKLOAD = """
import sys, numpy as np, framefix
from skimage import data, transform
first = (transform.resize(data.astronaut(), (180, 240)) * 255).astype(np.uint8)
y, x = np.mgrid[0:180, 0:240].astype(np.float32)
motion = np.stack([0.04 * (x - 120) - 0.03 * (y - 90) + 3.2, 0.03 * (x - 120) + 0.04 * (y - 90) - 1.7], axis=-1)
second = np.clip(framefix.warp(first, motion, interpolation="cubic", border="reflect") * 1.1, 0, 255).astype(np.uint8)
out = {f"flow {p}": framefix.estimate_flow(first, second, preset=p) for p in framefix.flow.PRESETS}
out["warp float"] = framefix.warp(first.astype(np.float32) / 255, motion, interpolation="cubic")
out["matched"] = framefix.match_histograms(first, (transform.resize(data.coffee(), (180, 240)) * 255).astype(np.uint8))
out["mkl"] = framefix.fit_color_transform(first, second).apply(first)
gains = 1 + 0.08 * np.sin(np.arange(10))[:, None, None, None]
clip = np.clip(np.stack([np.roll(first, 2 * t, axis=1) for t in range(10)]) * gains, 0, 255).astype(np.uint8)
out["deflicker local"] = framefix.deflicker(clip, mode="local")
backward = framefix.estimate_flow(second, first, preset="fast")
out["consistency"] = framefix.flow_consistency(out["flow fast"], backward, soft=True)
warped = framefix.warping_error(first, second)
out["warping error"], out["warping valid"] = np.array(warped.error), warped.valid
out["inconsistency"] = framefix.temporal_inconsistency(first, second)
statistics = framefix.stats.frame_statistics(first)
out.update({f"statistics {name}": getattr(statistics, name) for name in ("mean", "std", "luma_histogram", "tile_means")})
np.savez(sys.argv[1], **out)
print(framefix.backend_info()["native_isa"])
"""


def test_the_avx2_build_gives_the_baseline_build_s_results_bit_for_bit(native, tmp_path):
    if len(_backend.native_builds()) < 2:
        pytest.skip("the AVX2 build does not run on this machine")
    results = {}
    for requested, isa in (("baseline", "baseline"), ("auto", "avx2")):
        path = tmp_path / f"{isa}.npz"
        done = subprocess.run([sys.executable, "-c", ISA_WORKLOAD, str(path)], capture_output=True, text=True,
                              env={**os.environ, "FRAMEFIX_NATIVE_ISA": requested, "FRAMEFIX_BACKEND": "native"},
                              timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[-1] == isa
        results[isa] = dict(np.load(path))
    assert list(results["baseline"]) == list(results["avx2"])
    for name, expected in results["baseline"].items():  # bit for bit, NaNs (pixels with no measure) included
        got = results["avx2"][name]
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        assert got.tobytes() == expected.tobytes(), name


def test_workers_resolution():
    cpus = _backend.available_cpus()
    assert _backend.resolve_workers(3) == 3
    assert _backend.resolve_workers(-1) == cpus
    assert _backend.resolve_workers(np.int64(2)) == 2
    assert _backend.resolve_workers(2**64) == _backend.MAX_WORKERS
    with pytest.raises(ValueError, match="workers must be >= 1"):
        _backend.resolve_workers(-cpus - 1)
    with pytest.raises(TypeError, match="workers must be an int or None, got bool"):
        _backend.resolve_workers(True)


def test_set_workers_changes_the_default_and_restores_it():
    assert framefix.backend_info()["workers"] == 1
    with framefix.set_workers(-1):
        assert framefix.backend_info()["workers"] == _backend.available_cpus()
    assert framefix.backend_info()["workers"] == 1
    framefix.set_workers(2)
    try:
        assert _backend.resolve_workers(None) == 2
    finally:
        framefix.set_workers(None)
    assert _backend.resolve_workers(None) == 1
    with pytest.raises(ValueError, match="set_workers: workers must be >= 1"):
        framefix.set_workers(0)


def test_frames_that_went_through_pickle_are_accepted(backend):
    # equal but distinct dtype objects (pickle, multiprocessing) must reach the native kernels too
    import pickle

    image = pickle.loads(pickle.dumps(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)))
    flow = pickle.loads(pickle.dumps(np.zeros((16, 16, 2), np.float32)))
    np.testing.assert_array_equal(framefix.warp(image, flow), image)
    np.testing.assert_array_equal(framefix.match_histograms(image, image), image)
    assert framefix.frame_statistics(image).luma_histogram.sum() == 256


# --- the twin contract ------------------------------------------------------------------------------

# compiled-core helpers with no Numba twin, not kernels: the thread pool's own probes, and which
# build of the core runs
CORE_ONLY = {"hardware_workers", "_parallel_probe", "cpu_has_avx2", "isa"}


def test_numba_exports_exactly_the_native_kernels(native):
    from framefix import _numba

    kernels = {name for name in dir(native) if not name.startswith("__")} - CORE_ONLY
    assert set(_numba.__all__) == kernels
    for name in kernels:
        assert callable(getattr(_numba, name)) and callable(getattr(native, name)), name
    assert CORE_ONLY <= set(dir(native))  # the list stays honest


def test_core_stub_lists_every_function_with_its_arguments(native):
    # python/framefix/_core.pyi cannot drift: the same functions as the module, the same argument
    # names as the bindings (their pybind11 signature line) and as the Numba twins
    import ast
    import inspect
    import pathlib
    import re

    from framefix import _numba

    stub = pathlib.Path(framefix.__file__).with_name("_core.pyi")
    functions = {node.name: [a.arg for a in node.args.args]
                 for node in ast.parse(stub.read_text()).body if isinstance(node, ast.FunctionDef)}
    public = {name for name in dir(native) if not name.startswith("__") and callable(getattr(native, name))}
    assert set(functions) == public
    for name, arguments in functions.items():
        doc = getattr(native, name).__doc__
        signature, _, description = doc.partition("\n")
        assert re.findall(r"(\w+):", signature.split("(", 1)[1].rsplit(")", 1)[0]) == arguments, name
        assert description.strip(), f"{name} has no docstring"
        if name not in CORE_ONLY:
            assert list(inspect.signature(getattr(_numba, name)).parameters) == arguments, name


def out_kernel_calls():
    """(kernel, arguments before out, arguments after out, result shape, result dtype) of every
    kernel with an out argument that None may fill."""
    image = np.random.default_rng(4).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    flow = np.full((6, 9, 2), 0.25, np.float32)
    maps = np.mgrid[0:4, 0:5].astype(np.float32)[::-1] * 1.5
    curve = np.array([[0.0, 0.5, 1.0]] * 3, np.float32)
    same = (image.shape, np.uint8)
    return [
        ("warp", (image, flow), (None, 1, 1, 0.0), *same),
        ("remap", (image, maps[0], maps[1]), (None, 1, 1, 0.0), (4, 5, 3), np.uint8),
        ("shrink_area", (image, 2), (), (3, 4, 3), np.float32),
        ("apply_tone_curves", (image, curve, curve ** 2), (), *same),
        ("apply_gain_field", (image, np.full((2, 2, 1), 1.5, np.float32), 3), (), *same),
        ("apply_lut", (image, np.tile(np.arange(256, dtype=np.uint8)[::-1], (3, 1))), (), *same),
        ("apply_affine3", (image, np.eye(3, dtype=np.float32) * 0.5, np.ones(3, np.float32)), (), *same),
        ("srgb_to_lab", (image,), (), image.shape, np.float32),
        ("channel_histograms", (image, None), (), (3, 256), np.int64),
    ]


@pytest.mark.parametrize("kernel, before, after, shape, dtype", out_kernel_calls())
def test_out_convention_is_one_for_every_kernel(native, kernel, before, after, shape, dtype):
    # src/bindings/common.hpp's prepare_output and its twin: None allocates, an exact writeable
    # array is written in place, the output is returned, anything else is refused by name
    from framefix import _numba

    name = {"channel_histograms": "counts", "srgb_to_lab": "lab"}.get(kernel, "out")
    results = []
    for module in (native, _numba):
        run = getattr(module, kernel)
        made = run(*before, None, *after, 1)
        assert made.shape == shape and made.dtype == dtype and made.flags.c_contiguous
        given = np.zeros(shape, dtype)
        assert run(*before, given, *after, 1) is given
        np.testing.assert_array_equal(given, made)
        with pytest.raises(ValueError, match=rf"{name} must be \({shape[0]}, .* {np.dtype(dtype)}, got"):
            run(*before, np.zeros(shape, np.float64), *after, 1)
        with pytest.raises(ValueError, match=f"{name} must be"):
            run(*before, np.zeros(shape[:-1] + (shape[-1] + 1,), dtype), *after, 1)
        given.flags.writeable = False
        with pytest.raises(ValueError, match=f"{name} must be writeable"):
            run(*before, given, *after, 1)
        with pytest.raises(TypeError, match=f"{name} must be a numpy array or None, got list"):
            run(*before, [0], *after, 1)
        results.append(made)
    np.testing.assert_array_equal(results[0], results[1])


def test_the_numba_package_imports_nothing_from_the_rest_of_framefix():
    import ast
    import pathlib

    from framefix import _numba

    folder = pathlib.Path(_numba.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                modules = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                assert module.startswith(("framefix._numba", ".")) or not module.startswith("framefix"), \
                    f"{path.name} imports {module}"


def test_the_numba_package_shares_the_libraries_constants():
    from framefix import stats
    from framefix._numba import _parallel, _pixels

    assert _parallel.MAX_WORKERS == _backend.MAX_WORKERS
    assert (_pixels.LUMA_R, _pixels.LUMA_G, _pixels.LUMA_B) == tuple(np.float32(w) for w in stats.LUMA_WEIGHTS)


def test_helper_threads_run_the_callers_backend(monkeypatch):
    from framefix import flow

    seen = []
    estimate = flow._flow_from_luma

    def spy(*args):
        seen.append((threading.current_thread() is threading.main_thread(), _backend.active_backend()))
        return estimate(*args)

    monkeypatch.setattr(flow, "_flow_from_luma", spy)
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with framefix.use_backend("numba"):
        framefix.warping_error(frame, frame, workers=2)  # the backward flow runs on a helper thread
    assert sorted(seen) == [(False, "numba"), (True, "numba")]


# --- whole commands on each backend -------------------------------------------------------------------


@pytest.fixture(scope="module")
def flickering_clip(tmp_path_factory):
    from clips import write_video

    pytest.importorskip("skimage")
    from skimage import data, transform

    folder = tmp_path_factory.mktemp("twins")
    rng = np.random.default_rng(7)
    # a real picture panning 2 px a frame (flow has one answer), under 10% exposure flicker
    picture = transform.resize(data.astronaut(), (80, 120)) * 255
    frames = [np.clip(picture[10 + t:58 + t, 20 + 2 * t:84 + 2 * t] * (1 + 0.1 * rng.standard_normal()), 0, 255
                      ).astype(np.uint8) for t in range(8)]
    write_video(folder / "clip.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    return folder / "clip.mkv"


def run_commands(folder, clip):
    """analyze --flow and match-color through the command line; what they wrote."""
    import json

    from framefix.cli import main
    from framefix.io import open_clip

    assert main(["analyze", str(clip), "--flow", "--workers", "2", "--json", str(folder / "r.json"), "-q"]) == 0
    assert main(["match-color", str(clip), "-o", str(folder / "graded.mkv"), "--codec", "ffv1", "--reference",
                 f"{clip}@0", "--cube", str(folder / "g.cube"), "--save-transform", str(folder / "g.json"),
                 "--workers", "2", "-q"]) == 0
    with open_clip(folder / "graded.mkv") as graded:
        frames = list(graded)
    return json.loads((folder / "r.json").read_text()), frames, (folder / "g.cube").read_text()


def test_clip_commands_on_each_backend(backend, flickering_clip, tmp_path, capsys):
    report, graded, cube = run_commands(tmp_path, flickering_clip)
    assert "1 shot(s)" in capsys.readouterr().out
    errors = report["frames"]["warping_error"]
    assert len(errors) == 8 and errors[0] is None and all(e is not None and e > 0 for e in errors[1:])
    assert report["shots"][0]["flicker_index"] > 2  # the 10% exposure flicker is seen
    with framefix.open_clip(flickering_clip) as clip:
        source = [f.reshape(-1, 3).mean(axis=0) for f in clip]
    graded_mean = np.mean([f.reshape(-1, 3).mean(axis=0) for f in graded], axis=0)
    # the clip graded to its frame 0: its colors come to frame 0's (the input's were far off)
    assert len(graded) == 8 and np.abs(graded_mean - source[0]).max() < 4 < np.abs(np.mean(source, 0) - source[0]).max()
    assert cube.startswith('TITLE "framefix mkl"') and len(cube.splitlines()) == 4 + 33**3


def test_clip_commands_agree_across_backends(native, flickering_clip, tmp_path, capsys):
    results = []
    for name in _backend.BACKENDS:
        (tmp_path / name).mkdir()
        with framefix.use_backend(name):
            results.append(run_commands(tmp_path / name, flickering_clip))
    (report_a, frames_a, cube_a), (report_b, frames_b, cube_b) = results
    assert report_a == report_b and cube_a == cube_b
    for a, b in zip(frames_a, frames_b, strict=True):
        np.testing.assert_array_equal(a, b)
