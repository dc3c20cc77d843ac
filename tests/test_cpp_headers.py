"""The header-only kernels compile on their own (no Python) and compute what the Python API does."""

import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import framefix

PROGRAM = r"""
#include <framefix/framefix.hpp>
#include <cstdio>
#include <vector>

int main() {
    const std::ptrdiff_t h = 3, w = 4;
    std::vector<float> image(h * w), out(h * w), flow(h * w * 2);
    for (std::ptrdiff_t i = 0; i < h * w; ++i) {
        image[i] = static_cast<float>(i * i % 7) / 7.0f;
        flow[2 * i] = 0.25f * static_cast<float>(i % 3);
        flow[2 * i + 1] = -0.5f;
    }
    framefix::ImageView<const float> src{image.data(), h, w, 1, w, 1, 1};
    framefix::ImageView<const float> f{flow.data(), h, w, 2, 2 * w, 2, 1};
    framefix::ImageView<float> dst{out.data(), h, w, 1, w, 1, 1};
    framefix::warp<float>(src, f, dst, nullptr, framefix::Interpolation::cubic, framefix::Border::reflect, 0.0f, 2);
    for (float v : out) std::printf("%.9g\n", v);
}
"""


def compiler():
    found = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if found is None:
        pytest.skip("no C++ compiler on PATH")
    return found


HEADERS = sorted(path.name for path in pathlib.Path(framefix.get_include(), "framefix").glob("*.hpp"))


@pytest.mark.parametrize("header", HEADERS)
def test_every_header_compiles_on_its_own(header):
    # each header includes what it uses, so a kernel family's header can be included alone
    subprocess.run([compiler(), "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", f"-I{framefix.get_include()}",
                    "-x", "c++", "-"], input=f"#include <framefix/{header}>\n", text=True, check=True,
                   capture_output=True, timeout=300)


def test_headers_compile_and_agree_with_python(tmp_path):
    source = tmp_path / "consumer.cpp"
    source.write_text(PROGRAM)
    binary = tmp_path / "consumer"
    subprocess.run(
        [compiler(), "-std=c++17", "-O2", "-ffp-contract=off", "-pthread", f"-I{framefix.get_include()}",
         str(source), "-o", str(binary)],
        check=True, capture_output=True, timeout=300,
    )
    printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=60).stdout
    from_cpp = np.array(printed.split(), dtype=np.float32).reshape(3, 4)

    i = np.arange(12)
    image = ((i * i % 7).astype(np.float32) / np.float32(7)).reshape(3, 4)
    flow = np.stack([0.25 * (i % 3), np.full(12, -0.5)], axis=-1).astype(np.float32).reshape(3, 4, 2)
    expected = framefix.warp(image, flow, interpolation="cubic", border="reflect")
    # bit for bit, given -ffp-contract=off as the framefix::kernels CMake target sets it
    np.testing.assert_array_equal(from_cpp.view(np.uint32), expected.view(np.uint32))
