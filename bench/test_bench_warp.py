"""warp: framefix (native, Numba) against cv2.remap and scipy.ndimage.map_coordinates.

    python -m pytest bench/test_bench_warp.py --benchmark-group-by=group --benchmark-columns=min,median,mean,rounds

One group per image type; within a group every row warps the same 1080p RGB frame by the same
smooth 5 px flow with bilinear interpolation and edge borders, on 1 thread unless named.
"""

import numpy as np
import pytest

import framefix
from conftest import run_on

DTYPES = ["float32", "uint8"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend_name, workers", [("native", 1), ("numba", 1), ("native", 2)])
def test_framefix(benchmark, frame_1080p, flow_1080p, dtype, backend_name, workers):
    image = frame_1080p[dtype]
    if backend_name == "native" and not framefix.backend_info()["native_available"]:
        pytest.skip("the native core is not built")
    out = np.empty_like(image)
    call = run_on(backend_name, framefix.warp, image, flow_1080p, out=out, workers=workers)
    benchmark.group = f"warp 1080p RGB {dtype}"
    benchmark.extra_info.update(backend=backend_name, workers=workers)
    benchmark(call)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cv2_remap(benchmark, frame_1080p, flow_1080p, dtype):
    cv2 = pytest.importorskip("cv2")
    cv2.setNumThreads(1)
    image = frame_1080p[dtype]
    y, x = np.mgrid[0:1080, 0:1920].astype(np.float32)
    map_x, map_y = x + flow_1080p[..., 0], y + flow_1080p[..., 1]  # precomputed: not timed
    out = np.empty_like(image)
    benchmark.group = f"warp 1080p RGB {dtype}"
    benchmark.extra_info.update(backend="cv2.remap", workers=1)
    benchmark(cv2.remap, image, map_x, map_y, cv2.INTER_LINEAR, dst=out, borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scipy_map_coordinates(benchmark, frame_1080p, flow_1080p, dtype):
    ndimage = pytest.importorskip("scipy.ndimage")
    image = frame_1080p[dtype]
    y, x = np.mgrid[0:1080, 0:1920].astype(np.float32)
    coordinates = np.stack([y + flow_1080p[..., 1], x + flow_1080p[..., 0]])
    out = np.empty_like(image)

    def warp_channels():
        for c in range(image.shape[2]):
            ndimage.map_coordinates(image[..., c], coordinates, output=out[..., c], order=1, mode="nearest")

    benchmark.group = f"warp 1080p RGB {dtype}"
    benchmark.extra_info.update(backend="scipy.ndimage.map_coordinates", workers=1)
    benchmark.pedantic(warp_channels, rounds=3, iterations=1, warmup_rounds=0)
