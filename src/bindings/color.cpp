#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>

#include "framefix/color.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

template <class T>
const T* contiguous_data(const py::array& a, const char* name, py::ssize_t size) {
    if (!has_dtype<T>(a) || !(a.flags() & py::array::c_style) || a.size() != size)
        throw std::invalid_argument(std::string(name) + " must be a C-contiguous array of the expected dtype and size");
    return static_cast<const T*>(a.data());
}

void bind_histograms(const py::array& image, const py::object& mask, const py::array& counts, std::size_t workers) {
    std::optional<PlaneView<const std::uint8_t>> mask_view;
    if (!mask.is_none()) mask_view = plane_view<const std::uint8_t>(mask.cast<py::array>(), "mask");
    if (!has_dtype<std::int64_t>(counts) || counts.ndim() != 2 || !(counts.flags() & py::array::c_style) ||
        !counts.writeable())
        throw std::invalid_argument("counts must be a writeable C-contiguous (C, bins) int64 array");
    auto* out = static_cast<std::int64_t*>(const_cast<void*>(counts.data()));
    const auto bins = counts.shape(1);
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        if (counts.shape(0) != src.channels) throw std::invalid_argument("counts must have one row per channel");
        py::gil_scoped_release release;
        channel_histograms<T>(src, mask_view ? &*mask_view : nullptr, out, bins, workers);
    };
    if (has_dtype<std::uint8_t>(image)) return run(std::uint8_t{});
    if (has_dtype<std::uint16_t>(image)) return run(std::uint16_t{});
    throw std::invalid_argument("histograms need a uint8 or uint16 image");
}

py::tuple bind_moments(const py::array& image, const py::object& mask, std::size_t workers) {
    std::optional<PlaneView<const std::uint8_t>> mask_view;
    if (!mask.is_none()) mask_view = plane_view<const std::uint8_t>(mask.cast<py::array>(), "mask");
    double count = 0;
    py::array_t<double> sums(3), products({3, 3});
    double* s = sums.mutable_data();
    double* p = products.mutable_data();
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::gil_scoped_release release;
        channel_moments<T>(src, mask_view ? &*mask_view : nullptr, &count, s, p, workers);
    });
    return py::make_tuple(count, sums, products);
}

py::array_t<float> bind_sorted_channel_values(const py::array& image, std::ptrdiff_t channel, const py::object& mask) {
    std::optional<PlaneView<const std::uint8_t>> mask_view;
    if (!mask.is_none()) mask_view = plane_view<const std::uint8_t>(mask.cast<py::array>(), "mask");
    const auto src = image_view<const float>(image, "image");
    if (channel < 0 || channel >= src.channels) throw std::invalid_argument("channel out of range");
    std::vector<float> sorted;
    {
        py::gil_scoped_release release;
        sorted_channel_values(src, channel, mask_view ? &*mask_view : nullptr, sorted);
    }
    py::array_t<float> out(static_cast<py::ssize_t>(sorted.size()));
    std::copy(sorted.begin(), sorted.end(), out.mutable_data());
    return out;
}

void bind_match_float_channels(const py::array& image, const py::object& mask, const py::list& ref_quantiles,
                               const py::list& ref_values, double strength, const py::array& out) {
    std::optional<PlaneView<const std::uint8_t>> mask_view;
    if (!mask.is_none()) mask_view = plane_view<const std::uint8_t>(mask.cast<py::array>(), "mask");
    const auto src = image_view<const float>(image, "image");
    if (static_cast<std::ptrdiff_t>(ref_quantiles.size()) != src.channels || ref_values.size() != ref_quantiles.size())
        throw std::invalid_argument("one reference curve per channel needed");
    std::vector<py::array> keep;  // holds the arrays while the GIL is released
    std::vector<const double*> q, v;
    std::vector<std::ptrdiff_t> counts;
    for (std::size_t c = 0; c < ref_quantiles.size(); ++c) {
        keep.push_back(ref_quantiles[c].cast<py::array>());
        keep.push_back(ref_values[c].cast<py::array>());
        const py::array& qa = keep[keep.size() - 2];
        const py::array& va = keep.back();
        if (qa.size() != va.size()) throw std::invalid_argument("reference arrays differ in size");
        q.push_back(contiguous_data<double>(qa, "ref_quantiles", qa.size()));
        v.push_back(contiguous_data<double>(va, "ref_values", va.size()));
        counts.push_back(qa.size());
    }
    if (!has_dtype<float>(out) || !(out.flags() & py::array::c_style) || !out.writeable() || out.ndim() != 3 ||
        out.shape(0) != src.height || out.shape(1) != src.width || out.shape(2) != src.channels)
        throw std::invalid_argument("out must be a writeable C-contiguous float32 array of the image's shape");
    auto* o = static_cast<float*>(const_cast<void*>(out.data()));
    py::gil_scoped_release release;
    match_float_channels(src, mask_view ? &*mask_view : nullptr, q, v, counts, strength, o);
}

void bind_apply_lut(const py::array& image, const py::array& lut, const py::array& out, std::size_t workers) {
    auto run = [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        if (lut.ndim() != 2 || lut.shape(0) != src.channels) throw std::invalid_argument("lut must be (C, bins)");
        const T* table = contiguous_data<T>(lut, "lut", lut.size());
        const auto bins = lut.shape(1);
        py::gil_scoped_release release;
        apply_lut<T>(src, table, bins, dst, workers);
    };
    if (has_dtype<std::uint8_t>(image)) return run(std::uint8_t{});
    if (has_dtype<std::uint16_t>(image)) return run(std::uint16_t{});
    throw std::invalid_argument("lookup tables need a uint8 or uint16 image");
}

void bind_apply_affine3(const py::array& image, const py::array& matrix, const py::array& offset, const py::array& out,
                        std::size_t workers) {
    const float* m = contiguous_data<float>(matrix, "matrix", 9);
    const float* b = contiguous_data<float>(offset, "offset", 3);
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        apply_affine3<T, T>(src, m, b, dst, workers);
    });
}

void bind_srgb_to_lab(const py::array& image, const py::array& lab, std::size_t workers) {
    const auto dst = image_view<float>(lab, "lab");
    dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::gil_scoped_release release;
        srgb_to_lab<T>(src, dst, workers);
    });
}

void bind_lab_to_srgb(const py::array& lab, const py::array& out, std::size_t workers) {
    const auto src = image_view<const float>(lab, "lab");
    dispatch_pixel_type(out, [&](auto tag) {
        using T = decltype(tag);
        const auto dst = image_view<T>(out, "out");
        py::gil_scoped_release release;
        lab_to_srgb<T>(src, dst, workers);
    });
}

}  // namespace

void register_color(py::module_& m) {
    m.def("channel_histograms", &bind_histograms, py::arg("image"), py::arg("mask"), py::arg("counts"),
          py::arg("workers"));
    m.def("channel_moments", &bind_moments, py::arg("image"), py::arg("mask"), py::arg("workers"),
          "(count, sums (3,), products (3, 3)) of the selected pixels, in code values.");
    m.def("sorted_channel_values", &bind_sorted_channel_values, py::arg("image"), py::arg("channel"), py::arg("mask"));
    m.def("match_float_channels", &bind_match_float_channels, py::arg("image"), py::arg("mask"),
          py::arg("ref_quantiles"), py::arg("ref_values"), py::arg("strength"), py::arg("out"));
    m.def("apply_lut", &bind_apply_lut, py::arg("image"), py::arg("lut"), py::arg("out"), py::arg("workers"));
    m.def("apply_affine3", &bind_apply_affine3, py::arg("image"), py::arg("matrix"), py::arg("offset"), py::arg("out"),
          py::arg("workers"));
    m.def("srgb_to_lab", &bind_srgb_to_lab, py::arg("image"), py::arg("lab"), py::arg("workers"));
    m.def("lab_to_srgb", &bind_lab_to_srgb, py::arg("lab"), py::arg("out"), py::arg("workers"));
}

}  // namespace framefix::bindings
