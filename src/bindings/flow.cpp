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

}  // namespace

void register_flow(py::module_& m) {
    m.def("patch_flow_level", &bind_patch_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("patch"),
          py::arg("stride"), py::arg("iterations"), py::arg("workers"),
          "Refine one pyramid level's flow in place by patch inverse search (private: use framefix.estimate_flow).");
    m.def("refine_flow_level", &bind_refine_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("alpha"),
          py::arg("gamma"), py::arg("delta"), py::arg("fixed_point"), py::arg("sor"), py::arg("omega"), py::arg("radius"),
          py::arg("epsilon"), py::arg("workers"),
          "Refine one pyramid level's flow in place variationally (private: use framefix.estimate_flow).");
}

}  // namespace framefix::bindings
