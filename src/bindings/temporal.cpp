#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/temporal.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

py::tuple bind_compare_along_flow(const py::array& prev, const py::array& next, const py::array& prev_luma,
                                  const py::array& flow, const py::array& back, float alpha, float beta,
                                  std::ptrdiff_t step, std::size_t workers) {
    const auto luma = plane_view<const float>(prev_luma, "prev_luma");
    const auto f = image_view<const float>(flow, "flow");
    const auto b = image_view<const float>(back, "back");
    if (step < 1) throw std::invalid_argument("step must be >= 1");
    const std::ptrdiff_t rows = (luma.height + step - 1) / step, columns = (luma.width + step - 1) / step;
    py::array_t<float> carried({rows, columns});
    py::array_t<bool> valid({rows, columns});
    const auto carried_view = plane_view<float>(carried, "carried");
    const auto valid_view = plane_view<std::uint8_t>(valid, "valid");
    std::pair<double, std::ptrdiff_t> result;
    dispatch_pixel_type(next, [&](auto tag) {
        using T = decltype(tag);
        const auto p = image_view<const T>(prev, "prev");
        const auto n = image_view<const T>(next, "next");
        py::gil_scoped_release release;
        result = compare_along_flow<T>(p, n, luma, f, b, alpha, beta, carried_view, valid_view, step, workers);
    });
    return py::make_tuple(result.first, result.second, carried, valid);
}

}  // namespace

void register_temporal(py::module_& m) {
    m.def("compare_along_flow", &bind_compare_along_flow, py::arg("prev"), py::arg("next"), py::arg("prev_luma"),
          py::arg("flow"), py::arg("back"), py::arg("alpha"), py::arg("beta"), py::arg("step"), py::arg("workers"),
          R"doc(A frame pair compared along the motion, in one pass (private: see framefix.warping_error).

prev, next (H, W, C) of one dtype; prev_luma (H, W) float32; flow (H, W, 2) float32 from next to
prev and back from prev to next; alpha, beta the forward-backward check's tolerances; every
step-th row and column measured. Returns (sum of squared differences over the consistent pixels
in code values, float; their count, int; carried (ceil(H / step), ceil(W / step)) float32, prev's
luma carried along the flow; valid, the same size, bool).)doc");
}

}  // namespace framefix::bindings
