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
    assert set(info) >= {"active", "requested", "reason", "native_available", "native_error", "numba_version", "workers", "cpu_count"}
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
