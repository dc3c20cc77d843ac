#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/stats.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

template <class V>
py::array_t<typename V::value_type> to_array(const V& values, std::vector<py::ssize_t> shape) {
    py::array_t<typename V::value_type> out(shape);
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
}

py::tuple bind_frame_sums(const py::array& image, std::ptrdiff_t tiles_y, std::ptrdiff_t tiles_x, bool luma_histogram,
                          std::size_t workers) {
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        FrameSums sums;
        {
            py::gil_scoped_release release;
            sums = frame_sums<T>(src, tiles_y, tiles_x, luma_histogram, workers);
        }
        const py::ssize_t c = src.channels;
        return py::make_tuple(to_array(sums.sum, {c}), to_array(sums.sum_squares, {c}),
                              luma_histogram ? py::object(to_array(sums.luma_histogram, {kLumaBins})) : py::none(),
                              to_array(sums.tile_sums, {tiles_y, tiles_x, c}),
                              to_array(sums.tile_counts, {tiles_y, tiles_x}));
    });
}

}  // namespace

void register_stats(py::module_& m) {
    m.def("frame_sums", &bind_frame_sums, py::arg("image"), py::arg("tiles_y"), py::arg("tiles_x"),
          py::arg("luma_histogram"), py::arg("workers"),
          R"doc(Per-frame sums of an (H, W, C) frame in code values (private: use framefix.frame_statistics).

Returns (sum (C,), sum_squares (C,), luma_histogram (bins,) or None without luma_histogram,
tile_sums (tiles_y, tiles_x, C), tile_counts (tiles_y, tiles_x)) over a tiles_y x tiles_x grid.)doc");
}

}  // namespace framefix::bindings
