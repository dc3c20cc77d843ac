#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "framefix/flow.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

void bind_patch_flow_level(const py::array& i0, const py::array& i1, const py::array& flow, std::ptrdiff_t patch,
                           std::ptrdiff_t stride, std::ptrdiff_t iterations, std::size_t workers) {
    const auto a = plane_view<const float>(i0, "i0");
    const auto b = plane_view<const float>(i1, "i1");
    const auto f = image_view<float>(flow, "flow");
    const PatchSearch search{patch, stride, iterations};
    py::gil_scoped_release release;
    patch_flow_level(a, b, f, search, workers);
}

void bind_refine_flow_level(const py::array& i0, const py::array& i1, const py::array& flow, float alpha, float gamma,
                            float delta, std::ptrdiff_t fixed_point, std::ptrdiff_t sor, float omega, std::ptrdiff_t radius,
                            float epsilon, std::size_t workers) {
    const auto a = plane_view<const float>(i0, "i0");
    const auto b = plane_view<const float>(i1, "i1");
    const auto f = image_view<float>(flow, "flow");
    const Refinement settings{alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon};
    py::gil_scoped_release release;
    refine_flow_level(a, b, f, settings, workers);
}

py::array_t<float> bind_flow_luma(const py::array& image, std::size_t workers) {
    py::array_t<float> out({image.shape(0), image.shape(1)});
    const auto dst = plane_view<float>(out, "out");
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::gil_scoped_release release;
        flow_luma<T>(src, dst, workers);
    });
    return out;
}

py::array_t<float> bind_halve_plane(const py::array& plane, std::size_t workers) {
    const auto src = plane_view<const float>(plane, "plane");
    py::array_t<float> out({src.height / 2, src.width / 2});
    const auto dst = plane_view<float>(out, "out");
    py::gil_scoped_release release;
    halve_plane(src, dst, workers);
    return out;
}

py::array_t<float> bind_resize_flow(const py::array& flow, std::ptrdiff_t height, std::ptrdiff_t width,
                                    std::size_t workers) {
    const auto src = image_view<const float>(flow, "flow");
    py::array_t<float> out({height, width, std::ptrdiff_t{2}});
    const auto dst = image_view<float>(out, "out");
    py::gil_scoped_release release;
    resize_flow(src, dst, workers);
    return out;
}

py::array_t<float> bind_consistency_ratio(const py::array& forward, const py::array& backward, float alpha, float beta,
                                          bool motion_boundaries, std::size_t workers) {
    const auto f = image_view<const float>(forward, "forward");
    const auto b = image_view<const float>(backward, "backward");
    py::array_t<float> out({f.height, f.width});
    const auto dst = plane_view<float>(out, "out");
    py::gil_scoped_release release;
    consistency_ratio(f, b, dst, alpha, beta, motion_boundaries, workers);
    return out;
}

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

void register_flow(py::module_& m) {
    m.def("patch_flow_level", &bind_patch_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("patch"),
          py::arg("stride"), py::arg("iterations"), py::arg("workers"),
          "Refine one pyramid level's flow in place by patch inverse search (private: use framefix.estimate_flow).");
    m.def("flow_luma", &bind_flow_luma, py::arg("image"), py::arg("workers"),
          "The estimator's float32 luma plane of an (H, W, C) frame (private).");
    m.def("halve_plane", &bind_halve_plane, py::arg("plane"), py::arg("workers"),
          "2x2 box average of a float32 plane (private).");
    m.def("resize_flow", &bind_resize_flow, py::arg("flow"), py::arg("height"), py::arg("width"), py::arg("workers"),
          "Bilinear resize of a flow field, vectors scaled (private).");
    m.def("consistency_ratio", &bind_consistency_ratio, py::arg("forward"), py::arg("backward"), py::arg("alpha"),
          py::arg("beta"), py::arg("motion_boundaries"), py::arg("workers"),
          "Forward-backward error over tolerance per pixel (private: use framefix.flow_consistency).");
    m.def("compare_along_flow", &bind_compare_along_flow, py::arg("prev"), py::arg("next"), py::arg("prev_luma"),
          py::arg("flow"), py::arg("back"), py::arg("alpha"), py::arg("beta"), py::arg("step"),
          py::arg("workers"), "Consistency mask, carried luma and squared differences of a frame pair (private: see warping_error).");
    m.def("refine_flow_level", &bind_refine_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("alpha"),
          py::arg("gamma"), py::arg("delta"), py::arg("fixed_point"), py::arg("sor"), py::arg("omega"), py::arg("radius"),
          py::arg("epsilon"), py::arg("workers"),
          "Refine one pyramid level's flow in place variationally (private: use framefix.estimate_flow).");
}

}  // namespace framefix::bindings
