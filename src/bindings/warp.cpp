#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>

#include "framefix/warp.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

std::optional<PlaneView<std::uint8_t>> optional_mask(const py::object& mask) {
    if (mask.is_none()) return std::nullopt;
    return plane_view<std::uint8_t>(mask.cast<py::array>(), "mask");
}

void bind_warp(const py::array& image, const py::array& flow, const py::array& out, const py::object& mask,
               int interpolation, int border, float cval, std::size_t workers) {
    const auto mask_view = optional_mask(mask);
    const auto flow_view = image_view<const float>(flow, "flow");
    const Interpolation interp = interpolation_from_code(interpolation);
    const Border bord = border_from_code(border);
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        warp<T>(src, flow_view, dst, mask_view ? &*mask_view : nullptr, interp, bord, cval, workers);
    });
}

void bind_remap(const py::array& image, const py::array& map_x, const py::array& map_y, const py::array& out,
                const py::object& mask, int interpolation, int border, float cval, std::size_t workers) {
    const auto mask_view = optional_mask(mask);
    const auto map_x_view = plane_view<const float>(map_x, "map_x");
    const auto map_y_view = plane_view<const float>(map_y, "map_y");
    const Interpolation interp = interpolation_from_code(interpolation);
    const Border bord = border_from_code(border);
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        remap<T>(src, map_x_view, map_y_view, dst, mask_view ? &*mask_view : nullptr, interp, bord, cval, workers);
    });
}

}  // namespace

void register_warp(py::module_& m) {
    m.def("warp", &bind_warp, py::arg("image"), py::arg("flow"), py::arg("out"), py::arg("mask"),
          py::arg("interpolation"), py::arg("border"), py::arg("cval"), py::arg("workers"),
          "Backward warp of an (H, W, C) image by an (H, W, 2) float32 flow into out (private: use framefix.warp).");
    m.def("remap", &bind_remap, py::arg("image"), py::arg("map_x"), py::arg("map_y"), py::arg("out"),
          py::arg("mask"), py::arg("interpolation"), py::arg("border"), py::arg("cval"), py::arg("workers"),
          "Remap of an (H, W, C) image by absolute float32 maps into out (private: use framefix.remap).");
}

}  // namespace framefix::bindings
