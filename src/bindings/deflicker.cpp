#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/deflicker.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

py::array bind_shrink_area(const py::array& image, std::ptrdiff_t factor, const py::object& out, std::size_t workers) {
    if (factor < 1) throw std::invalid_argument("shrink_area: factor must be >= 1");
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<float>(out, {src.height / factor, src.width / factor, src.channels}, "out");
        const auto dst = image_view<float>(result, "out");
        py::gil_scoped_release release;
        shrink_area<T>(src, factor, dst, workers);
        return result;
    });
}

py::array bind_apply_tone_curves(const py::array& image, const py::array& knots_x, const py::array& knots_y,
                                 const py::object& out, std::size_t workers) {
    if (knots_x.ndim() != 2 || knots_y.ndim() != 2 || knots_y.shape(0) != knots_x.shape(0) ||
        knots_y.shape(1) != knots_x.shape(1))
        throw std::invalid_argument("knots_x and knots_y must both be (curves, knots)");
    const auto curves = knots_x.shape(0), count = knots_x.shape(1);
    const float* xs = contiguous_data<float>(knots_x, "knots_x");
    const float* ys = contiguous_data<float>(knots_y, "knots_y");
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<T>(out, {src.height, src.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        apply_tone_curves<T>(src, xs, ys, curves, count, dst, workers);
        return result;
    });
}

py::array bind_apply_gain_field(const py::array& image, const py::array& gains, std::ptrdiff_t colours,
                                const py::object& out, std::size_t workers) {
    if (gains.ndim() != 3) throw std::invalid_argument("gains must be (grid_h, grid_w, 1 or colours)");
    const float* g = contiguous_data<float>(gains, "gains");
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<T>(out, {src.height, src.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        apply_gain_field<T>(src, g, gains.shape(0), gains.shape(1), gains.shape(2), colours, dst, workers);
        return result;
    });
}

}  // namespace

void register_deflicker(py::module_& m) {
    m.def("shrink_area", &bind_shrink_area, py::arg("image"), py::arg("factor"), py::arg("out"), py::arg("workers"),
          R"doc(Block means of an (H, W, C) frame in 0..1 units (private: see framefix.deflicker).

out (H // factor, W // factor, C) float32, or None for a new array; rows and columns beyond the
last whole block are left out. Returns out.)doc");
    m.def("apply_tone_curves", &bind_apply_tone_curves, py::arg("image"), py::arg("knots_x"), py::arg("knots_y"),
          py::arg("out"), py::arg("workers"),
          R"doc(Per-channel monotone tone curves applied to an (H, W, C) frame (private: see framefix.deflicker).

knots_x, knots_y C-contiguous (curves, K) float32 in 0..1 units, knots_x increasing; channels
from `curves` on are copied; out of the image's shape and dtype, or None. Returns out.)doc");
    m.def("apply_gain_field", &bind_apply_gain_field, py::arg("image"), py::arg("gains"), py::arg("colours"),
          py::arg("out"), py::arg("workers"),
          R"doc(out = image x a bilinearly upsampled gain grid (private: see framefix.deflicker).

gains C-contiguous (gh, gw, 1 or colours) float32, values at cell centres; channels from
`colours` on are copied; out of the image's shape and dtype, or None. Returns out.)doc");
}

}  // namespace framefix::bindings
