#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "framefix/deflicker.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

const float* float_table(const py::array& a, const char* name, py::ssize_t rows, py::ssize_t columns) {
    if (!has_dtype<float>(a) || !(a.flags() & py::array::c_style) || a.ndim() != (rows < 0 ? 3 : 2) ||
        (rows >= 0 && (a.shape(0) != rows || a.shape(1) != columns)))
        throw std::invalid_argument(std::string(name) + " must be a C-contiguous float32 array of the expected shape");
    return static_cast<const float*>(a.data());
}

void bind_shrink_area(const py::array& image, std::ptrdiff_t factor, const py::array& out, std::size_t workers) {
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<float>(out, "out");
        py::gil_scoped_release release;
        shrink_area<T>(src, factor, dst, workers);
    });
}

void bind_apply_tone_curves(const py::array& image, const py::array& knots_x, const py::array& knots_y,
                            const py::array& out, std::size_t workers) {
    if (knots_x.ndim() != 2) throw std::invalid_argument("knots_x must be (curves, knots)");
    const auto curves = knots_x.shape(0), count = knots_x.shape(1);
    const float* xs = float_table(knots_x, "knots_x", curves, count);
    const float* ys = float_table(knots_y, "knots_y", curves, count);
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        apply_tone_curves<T>(src, xs, ys, curves, count, dst, workers);
    });
}

void bind_apply_gain_field(const py::array& image, const py::array& gains, std::ptrdiff_t colours, const py::array& out,
                           std::size_t workers) {
    const float* g = float_table(gains, "gains", -1, -1);
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        apply_gain_field<T>(src, g, gains.shape(0), gains.shape(1), gains.shape(2), colours, dst, workers);
    });
}

}  // namespace

void register_deflicker(py::module_& m) {
    m.def("shrink_area", &bind_shrink_area, py::arg("image"), py::arg("factor"), py::arg("out"), py::arg("workers"),
          "out (H // factor, W // factor, C) float32 = block means of an (H, W, C) frame, in 0..1 units.");
    m.def("apply_tone_curves", &bind_apply_tone_curves, py::arg("image"), py::arg("knots_x"), py::arg("knots_y"),
          py::arg("out"), py::arg("workers"),
          "out = per-channel monotone tone curves (knots (curves, K) float32, 0..1 units) applied to an (H, W, C) frame.");
    m.def("apply_gain_field", &bind_apply_gain_field, py::arg("image"), py::arg("gains"), py::arg("colours"),
          py::arg("out"), py::arg("workers"),
          "out = image x bilinear upsampling of a (gh, gw, 1 or colours) float32 gain grid.");
}

}  // namespace framefix::bindings
