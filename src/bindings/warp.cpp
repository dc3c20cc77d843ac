#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/warp.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

py::array bind_warp(const py::array& image, const py::array& flow, const py::object& out, const py::object& mask,
                    int interpolation, int border, float cval, std::size_t workers) {
    const auto mask_view = optional_mask<std::uint8_t>(mask);
    const auto flow_view = image_view<const float>(flow, "flow");
    const Interpolation interp = interpolation_from_code(interpolation);
    const Border bord = border_from_code(border);
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<T>(out, {flow_view.height, flow_view.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        warp<T>(src, flow_view, dst, mask_view ? &*mask_view : nullptr, interp, bord, cval, workers);
        return result;
    });
}

py::array bind_remap(const py::array& image, const py::array& map_x, const py::array& map_y, const py::object& out,
                     const py::object& mask, int interpolation, int border, float cval, std::size_t workers) {
    const auto mask_view = optional_mask<std::uint8_t>(mask);
    const auto map_x_view = plane_view<const float>(map_x, "map_x");
    const auto map_y_view = plane_view<const float>(map_y, "map_y");
    const Interpolation interp = interpolation_from_code(interpolation);
    const Border bord = border_from_code(border);
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<T>(out, {map_x_view.height, map_x_view.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        remap<T>(src, map_x_view, map_y_view, dst, mask_view ? &*mask_view : nullptr, interp, bord, cval, workers);
        return result;
    });
}

}  // namespace

void register_warp(py::module_& m) {
    m.def("warp", &bind_warp, py::arg("image"), py::arg("flow"), py::arg("out"), py::arg("mask"),
          py::arg("interpolation"), py::arg("border"), py::arg("cval"), py::arg("workers"),
          R"doc(Backward warp: out[y, x] = image[y + dy, x + dx] (private: use framefix.warp).

image (H, W, C) uint8, uint16 or float32; flow (H, W, 2) float32 (dx, dy); out (H, W, C) of the
image's dtype, or None for a new array; mask None or a writeable (H, W) bool array set True where
the sample point lies inside the image; interpolation and border are the positions of the names
in framefix.warp.INTERPOLATIONS and BORDERS; cval fills the constant border. Returns out.)doc");
    m.def("remap", &bind_remap, py::arg("image"), py::arg("map_x"), py::arg("map_y"), py::arg("out"),
          py::arg("mask"), py::arg("interpolation"), py::arg("border"), py::arg("cval"), py::arg("workers"),
          R"doc(Remap: out[y, x] = image[map_y[y, x], map_x[y, x]] (private: use framefix.remap).

map_x, map_y (H', W') float32 absolute sample points; out (H', W', C) of the image's dtype, or
None; the other arguments as for warp. Returns out.)doc");
}

}  // namespace framefix::bindings
