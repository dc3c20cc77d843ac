import numpy as np
import pytest

import framefix


def smooth_flow(height, width, amplitude=5.0):
    """A smooth, everywhere-different motion field of about `amplitude` pixels."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    flow = np.empty((height, width, 2), np.float32)
    flow[..., 0] = amplitude * np.sin(y / 53) * np.cos(x / 71)
    flow[..., 1] = amplitude * np.cos(y / 61) * np.sin(x / 43)
    return flow


@pytest.fixture(scope="session")
def frame_1080p():
    rng = np.random.default_rng(0)
    return {
        "float32": rng.random((1080, 1920, 3), dtype=np.float32),
        "uint8": rng.integers(0, 256, size=(1080, 1920, 3), dtype=np.uint8),
    }


@pytest.fixture(scope="session")
def flow_1080p():
    return smooth_flow(1080, 1920)


def run_on(backend_name, function, *args, **kwargs):
    """A callable running function on the given backend (warmed up once, so Numba's JIT is not timed)."""

    def call():
        with framefix.use_backend(backend_name):
            return function(*args, **kwargs)

    call()
    return call
