// A C++ consumer of framefix's kernels: whole clips in one call, each frame through the kernel
// with no Python in between. The headers come from the framefix::kernels CMake target.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <framefix/color.hpp>
#include <framefix/warp.hpp>

namespace py = pybind11;

namespace {

// C-contiguous (a strided input is copied once); no forcecast, so a wrong dtype is refused
using Clip = py::array_t<std::uint8_t, py::array::c_style>;
using Flows = py::array_t<float, py::array::c_style>;

// Linear warp with edge border of every frame of a (T, H, W, C) uint8 clip by its own (H, W, 2)
// flow (framefix.warp's backward convention: out[y, x] = frame[y + dy, x + dx]).
py::array warp_clip(const Clip& clip, const Flows& flows, std::size_t workers) {
    const py::buffer_info in = clip.request(), fl = flows.request();
    if (in.ndim != 4 || fl.ndim != 4 || fl.shape[0] != in.shape[0] || fl.shape[1] != in.shape[1] ||
        fl.shape[2] != in.shape[2] || fl.shape[3] != 2)
        throw std::invalid_argument("warp_clip: clip (T, H, W, C) uint8 and flows (T, H, W, 2) float32 expected");
    Clip out(in.shape);
    const py::buffer_info o = out.request(true);
    const auto frames = in.shape[0], h = in.shape[1], w = in.shape[2], c = in.shape[3];
    const auto* src = static_cast<const std::uint8_t*>(in.ptr);
    auto* dst = static_cast<std::uint8_t*>(o.ptr);
    const auto* flow = static_cast<const float*>(fl.ptr);
    py::gil_scoped_release release;
    for (py::ssize_t t = 0; t < frames; ++t) {
        // views: data, height, width, channels, then strides in elements (y, x, channel)
        const framefix::ImageView<const std::uint8_t> source{src + t * h * w * c, h, w, c, w * c, c, 1};
        const framefix::ImageView<const float> motion{flow + t * h * w * 2, h, w, 2, w * 2, 2, 1};
        const framefix::ImageView<std::uint8_t> target{dst + t * h * w * c, h, w, c, w * c, c, 1};
        framefix::warp<std::uint8_t>(source, motion, target, nullptr, framefix::Interpolation::linear,
                                     framefix::Border::edge, 0.0f, workers);
    }
    return std::move(out);
}

// Per-channel histograms of a whole (T, H, W, C) uint8 clip: (C, 256) int64 counts.
py::array_t<std::int64_t> clip_histograms(const Clip& clip, std::size_t workers) {
    const py::buffer_info in = clip.request();
    if (in.ndim != 4) throw std::invalid_argument("clip_histograms: clip (T, H, W, C) uint8 expected");
    const auto frames = in.shape[0], h = in.shape[1], w = in.shape[2], c = in.shape[3];
    py::array_t<std::int64_t> total({c, py::ssize_t{256}});
    std::int64_t* sum = total.mutable_data();
    std::vector<std::int64_t> counts(static_cast<std::size_t>(c * 256));
    std::fill(sum, sum + c * 256, 0);
    const auto* src = static_cast<const std::uint8_t*>(in.ptr);
    py::gil_scoped_release release;
    for (py::ssize_t t = 0; t < frames; ++t) {
        const framefix::ImageView<const std::uint8_t> image{src + t * h * w * c, h, w, c, w * c, c, 1};
        framefix::channel_histograms<std::uint8_t>(image, nullptr, counts.data(), 256, workers);
        for (std::size_t i = 0; i < counts.size(); ++i) sum[i] += counts[i];
    }
    return total;
}

}  // namespace

PYBIND11_MODULE(clip_kernels_cpp, m) {
    m.def("warp_clip", &warp_clip, py::arg("clip"), py::arg("flows"), py::arg("workers") = 1);
    m.def("clip_histograms", &clip_histograms, py::arg("clip"), py::arg("workers") = 1);
}
