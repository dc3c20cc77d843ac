#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/flow.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

void bind_patch_flow_level(const py::array& i0, const py::array& i1, const py::array& flow, std::ptrdiff_t patch,
                           std::ptrdiff_t stride, std::ptrdiff_t iterations, bool propagation, std::size_t workers) {
    const auto a = plane_view<const float>(i0, "i0");
    const auto b = plane_view<const float>(i1, "i1");
    const auto f = image_view<float>(flow, "flow");
    const PatchSearch search{patch, stride, iterations, propagation};
    py::gil_scoped_release release;
    patch_flow_level(a, b, f, search, workers);
}

void bind_refine_flow_level(const py::array& i0, const py::array& i1, const py::array& flow, float alpha, float gamma,
                            float delta, std::ptrdiff_t fixed_point, std::ptrdiff_t sor, float omega, std::ptrdiff_t radius,
                            float epsilon, std::ptrdiff_t presmooth, std::size_t workers) {
    const auto a = plane_view<const float>(i0, "i0");
    const auto b = plane_view<const float>(i1, "i1");
    const auto f = image_view<float>(flow, "flow");
    const Refinement settings{alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon, presmooth};
    py::gil_scoped_release release;
    refine_flow_level(a, b, f, settings, workers);
}

FlowSettings flow_settings(std::ptrdiff_t patch, std::ptrdiff_t stride, std::ptrdiff_t iterations,
                           std::ptrdiff_t finest_level, bool propagation, float alpha, float gamma, float delta,
                           std::ptrdiff_t fixed_point, std::ptrdiff_t sor, std::ptrdiff_t refine_levels,
                           std::ptrdiff_t full_refine_iterations, bool fill_occlusions, std::ptrdiff_t presmooth,
                           float omega, std::ptrdiff_t radius, float epsilon) {
    return FlowSettings{PatchSearch{patch, stride, iterations, propagation},
                        Refinement{alpha, gamma, delta, fixed_point, sor, omega, radius, epsilon}, finest_level,
                        refine_levels, full_refine_iterations, fill_occlusions, presmooth};
}

std::optional<ImageView<const float>> optional_init(const py::object& init) {
    if (init.is_none()) return std::nullopt;
    return image_view<const float>(init.cast<py::array>(), "init");
}

py::array_t<float> bind_flow_from_luma(const py::array& i0, const py::array& i1, const py::object& init,
                                       std::ptrdiff_t patch, std::ptrdiff_t stride, std::ptrdiff_t iterations,
                                       std::ptrdiff_t finest_level, bool propagation, float alpha, float gamma, float delta,
                                       std::ptrdiff_t fixed_point, std::ptrdiff_t sor, std::ptrdiff_t refine_levels,
                                       std::ptrdiff_t full_refine_iterations, bool fill_occlusions,
                                       std::ptrdiff_t presmooth, float omega, std::ptrdiff_t radius, float epsilon,
                                       std::size_t workers) {
    const auto a = plane_view<const float>(i0, "i0");
    const auto b = plane_view<const float>(i1, "i1");
    const auto start = optional_init(init);
    const FlowSettings settings = flow_settings(patch, stride, iterations, finest_level, propagation, alpha, gamma, delta,
                                                fixed_point, sor, refine_levels, full_refine_iterations, fill_occlusions,
                                                presmooth, omega, radius, epsilon);
    py::array_t<float> out({a.height, a.width, std::ptrdiff_t{2}});
    const auto f = image_view<float>(out, "out");
    py::gil_scoped_release release;
    flow_from_luma(a, b, start ? &*start : nullptr, settings, f, workers);
    return out;
}

py::array_t<float> bind_flow_from_frames(const py::array& frame0, const py::array& frame1, const py::object& init,
                                         std::ptrdiff_t patch, std::ptrdiff_t stride, std::ptrdiff_t iterations,
                                         std::ptrdiff_t finest_level, bool propagation, float alpha, float gamma,
                                         float delta, std::ptrdiff_t fixed_point, std::ptrdiff_t sor,
                                         std::ptrdiff_t refine_levels, std::ptrdiff_t full_refine_iterations,
                                         bool fill_occlusions, std::ptrdiff_t presmooth, float omega,
                                         std::ptrdiff_t radius, float epsilon, std::size_t workers) {
    const auto start = optional_init(init);
    const FlowSettings settings = flow_settings(patch, stride, iterations, finest_level, propagation, alpha, gamma, delta,
                                                fixed_point, sor, refine_levels, full_refine_iterations, fill_occlusions,
                                                presmooth, omega, radius, epsilon);
    py::array_t<float> out;
    dispatch_pixel_type(frame0, [&](auto tag) {
        using T = decltype(tag);
        const auto a = image_view<const T>(frame0, "frame0");
        const auto b = image_view<const T>(frame1, "frame1");
        out = py::array_t<float>({a.height, a.width, std::ptrdiff_t{2}});
        const auto f = image_view<float>(out, "out");
        py::gil_scoped_release release;
        flow_from_frames<T>(a, b, start ? &*start : nullptr, settings, f, workers);
    });
    return out;
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

}  // namespace

void register_flow(py::module_& m) {
    m.def("flow_luma", &bind_flow_luma, py::arg("image"), py::arg("workers"),
          R"doc(The flow estimator's input plane: (H, W) float32 Rec. 709 luma of an (H, W, C) frame, C 1, 3
or 4, in 0..1 for integer pixels (private: see framefix.estimate_flow).)doc");
    m.def("halve_plane", &bind_halve_plane, py::arg("plane"), py::arg("workers"),
          R"doc(2x2 box average of an (H, W) float32 plane into a new (H // 2, W // 2) one; an odd last row or
column is dropped (private: the flow pyramid).)doc");
    m.def("resize_flow", &bind_resize_flow, py::arg("flow"), py::arg("height"), py::arg("width"), py::arg("workers"),
          R"doc(Bilinear resize of an (H, W, 2) float32 flow to a new (height, width, 2) one, pixel centres
aligned, edge border, vectors scaled with the size (private: the flow pyramid).)doc");
    m.def("flow_from_luma", &bind_flow_from_luma, py::arg("i0"), py::arg("i1"), py::arg("init"), py::arg("patch"),
          py::arg("stride"), py::arg("iterations"), py::arg("finest_level"), py::arg("propagation"), py::arg("alpha"),
          py::arg("gamma"), py::arg("delta"), py::arg("fixed_point"), py::arg("sor"), py::arg("refine_levels"),
          py::arg("full_refine_iterations"), py::arg("fill_occlusions"), py::arg("presmooth"), py::arg("omega"), py::arg("radius"),
          py::arg("epsilon"), py::arg("workers"),
          R"doc(The estimator: a new (H, W, 2) float32 flow from plane i0 to plane i1 (private: use framefix.estimate_flow).

i0, i1 (H, W) float32 flow_luma planes; init None or an (H', W', 2) float32 flow to start from;
the pyramid's levels from the coarsest down to finest_level each run patch_flow_level (patch,
stride, iterations, propagation) and, when fixed_point > 0, refine_flow_level (alpha ... epsilon) on
the refine_levels finest of them (0: all), then full_refine_iterations more at full resolution
when finest_level > 0; with fill_occlusions, pixels where the backward flow
disagrees take a consistent neighbour's flow; presmooth passes of a 3x3 binomial blur of both
planes go into the refinement at full resolution.)doc");
    m.def("flow_from_frames", &bind_flow_from_frames, py::arg("frame0"), py::arg("frame1"), py::arg("init"),
          py::arg("patch"), py::arg("stride"), py::arg("iterations"), py::arg("finest_level"), py::arg("propagation"),
          py::arg("alpha"), py::arg("gamma"), py::arg("delta"), py::arg("fixed_point"), py::arg("sor"),
          py::arg("refine_levels"), py::arg("full_refine_iterations"), py::arg("fill_occlusions"), py::arg("presmooth"), py::arg("omega"),
          py::arg("radius"), py::arg("epsilon"), py::arg("workers"),
          R"doc(The estimator on two (H, W, C) frames of the same dtype and shape: flow_from_luma on their
flow_luma planes, which stay in scratch memory later calls on the thread reuse (private: use
framefix.estimate_flow).)doc");
    m.def("patch_flow_level", &bind_patch_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("patch"),
          py::arg("stride"), py::arg("iterations"), py::arg("propagation"), py::arg("workers"),
          R"doc(Refine one pyramid level's flow in place by patch inverse search (private: use framefix.estimate_flow).

i0, i1 (H, W) float32 planes at least patch x patch; flow (H, W, 2) float32, read as the start
and overwritten; patch side, stride between patch origins (1..patch), at most `iterations`
Gauss-Newton steps a patch; `propagation` offers each patch its neighbours' flows. Returns None.)doc");
    m.def("refine_flow_level", &bind_refine_flow_level, py::arg("i0"), py::arg("i1"), py::arg("flow"), py::arg("alpha"),
          py::arg("gamma"), py::arg("delta"), py::arg("fixed_point"), py::arg("sor"), py::arg("omega"), py::arg("radius"),
          py::arg("epsilon"), py::arg("presmooth"), py::arg("workers"),
          R"doc(Refine one pyramid level's flow in place variationally (private: use framefix.estimate_flow).

i0, i1 (H, W) float32 planes at least 2x2; flow (H, W, 2) float32, overwritten; alpha smoothness,
gamma gradient and delta brightness constancy weights, fixed_point relinearisations of sor
red-black SOR sweeps over-relaxed by omega (0..2), on images normalised over (2 radius + 1)^2
windows with epsilon added to the local deviation, after presmooth passes of a 3x3 binomial blur
of both. Returns None.)doc");
    m.def("consistency_ratio", &bind_consistency_ratio, py::arg("forward"), py::arg("backward"), py::arg("alpha"),
          py::arg("beta"), py::arg("motion_boundaries"), py::arg("workers"),
          R"doc(Forward-backward error over its tolerance per pixel, a new (H, W) float32 array: below 1
consistent, +inf where the match leaves the frame or (with motion_boundaries) sits on a motion
boundary; forward and backward (H, W, 2) float32 (private: use framefix.flow_consistency).)doc");
}

}  // namespace framefix::bindings
