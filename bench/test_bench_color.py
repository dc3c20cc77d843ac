"""Color: framefix against scikit-image's match_histograms and color-matcher, 1080p RGB, 1 thread.

    python -m pytest bench/test_bench_color.py --benchmark-group-by=group --benchmark-columns=min,median,rounds

Images are scikit-image's astronaut (source) and chelsea (reference) resized to 1920x1080.
"""

import numpy as np
import pytest

import framefix
from conftest import run_on


@pytest.fixture(scope="module")
def pair_1080p():
    pytest.importorskip("skimage")
    from skimage import data, transform

    source = transform.resize(data.astronaut(), (1080, 1920), order=1).astype(np.float32)
    reference = transform.resize(data.chelsea(), (1080, 1920), order=1).astype(np.float32)
    return {
        "float32": (source, reference),
        "uint8": tuple(np.rint(a * 255).astype(np.uint8) for a in (source, reference)),
    }


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("backend_name", ["native", "numba"])
def test_framefix_match_histograms(benchmark, pair_1080p, dtype, backend_name):
    source, reference = pair_1080p[dtype]
    benchmark.group = f"match_histograms 1080p RGB {dtype}"
    benchmark.extra_info.update(backend=backend_name, workers=1)
    call = run_on(backend_name, framefix.match_histograms, source, reference, workers=1)
    benchmark.pedantic(call, rounds=5 if dtype == "uint8" else 3, iterations=1)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_skimage_match_histograms(benchmark, pair_1080p, dtype):
    exposure = pytest.importorskip("skimage.exposure")
    source, reference = pair_1080p[dtype]
    benchmark.group = f"match_histograms 1080p RGB {dtype}"
    benchmark.extra_info.update(backend="skimage", workers=1)
    benchmark.pedantic(exposure.match_histograms, args=(source, reference), kwargs={"channel_axis": -1},
                       rounds=3 if dtype == "uint8" else 1, iterations=1)


@pytest.mark.parametrize("method", ["mkl", "hm-mkl-hm"])
@pytest.mark.parametrize("backend_name", ["native", "numba"])
def test_framefix_transfer(benchmark, pair_1080p, method, backend_name):
    source, reference = pair_1080p["uint8"]
    benchmark.group = f"color transfer {method}, fit + apply, 1080p RGB uint8"
    benchmark.extra_info.update(backend=backend_name, workers=1)
    call = run_on(backend_name, framefix.transfer_color, source, reference, method=method, workers=1)
    benchmark.pedantic(call, rounds=3, iterations=1)


@pytest.mark.parametrize("method", ["mkl", "hm-mkl-hm"])
def test_color_matcher_transfer(benchmark, pair_1080p, method):
    color_matcher = pytest.importorskip("color_matcher")
    source, reference = pair_1080p["uint8"]
    matcher = color_matcher.ColorMatcher()
    benchmark.group = f"color transfer {method}, fit + apply, 1080p RGB uint8"
    benchmark.extra_info.update(backend="color-matcher", workers=1)
    benchmark.pedantic(lambda: matcher.transfer(src=source, ref=reference, method=method), rounds=1, iterations=1)
