#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "common.hpp"
#include "framefix/color.hpp"

namespace py = pybind11;

namespace framefix::bindings {

namespace {

// Histograms and lookup tables exist for integer pixels only.
template <class F>
decltype(auto) dispatch_integer_type(const py::array& image, const char* what, F&& f) {
    if (has_dtype<std::uint8_t>(image)) return f(std::uint8_t{});
    if (has_dtype<std::uint16_t>(image)) return f(std::uint16_t{});
    throw std::invalid_argument(std::string(what) + " need a uint8 or uint16 image");
}

py::array bind_histograms(const py::array& image, const py::object& mask, const py::object& counts,
                          std::size_t workers) {
    const auto mask_view = optional_mask<const std::uint8_t>(mask);
    return dispatch_integer_type(image, "histograms", [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        const py::ssize_t bins = static_cast<py::ssize_t>(pixel_traits<T>::max_value) + 1;
        py::array result = prepare_output<std::int64_t>(counts, {src.channels, bins}, "counts");
        if (!(result.flags() & py::array::c_style)) throw std::invalid_argument("counts must be C-contiguous");
        auto* out = static_cast<std::int64_t*>(result.mutable_data());
        py::gil_scoped_release release;
        channel_histograms<T>(src, mask_view ? &*mask_view : nullptr, out, bins, workers);
        return result;
    });
}

py::tuple bind_moments(const py::array& image, const py::object& mask, std::size_t workers) {
    const auto mask_view = optional_mask<const std::uint8_t>(mask);
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
    const auto mask_view = optional_mask<const std::uint8_t>(mask);
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

py::array bind_match_float_channels(const py::array& image, const py::object& mask, const py::list& ref_quantiles,
                                    const py::list& ref_values, double strength, const py::object& out) {
    const auto mask_view = optional_mask<const std::uint8_t>(mask);
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
        q.push_back(contiguous_data<double>(qa, "ref_quantiles"));
        v.push_back(contiguous_data<double>(va, "ref_values"));
        counts.push_back(qa.size());
    }
    py::array result = prepare_output<float>(out, {src.height, src.width, src.channels}, "out");
    // the kernel scatters into a packed (H, W, C) block
    if (!(result.flags() & py::array::c_style)) throw std::invalid_argument("out must be C-contiguous");
    auto* o = static_cast<float*>(result.mutable_data());
    py::gil_scoped_release release;
    match_float_channels(src, mask_view ? &*mask_view : nullptr, q, v, counts, strength, o);
    return result;
}

py::array bind_apply_lut(const py::array& image, const py::array& lut, const py::object& out, std::size_t workers) {
    return dispatch_integer_type(image, "lookup tables", [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        if (lut.ndim() != 2 || lut.shape(0) != src.channels) throw std::invalid_argument("lut must be (C, bins)");
        const T* table = contiguous_data<T>(lut, "lut");
        const auto bins = lut.shape(1);
        py::array result = prepare_output<T>(out, {src.height, src.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        apply_lut<T>(src, table, bins, dst, workers);
        return result;
    });
}

py::array bind_apply_affine3(const py::array& image, const py::array& matrix, const py::array& offset,
                             const py::object& out, std::size_t workers) {
    const float* m = contiguous_data<float>(matrix, "matrix", 9);
    const float* b = contiguous_data<float>(offset, "offset", 3);
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<T>(out, {src.height, src.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        apply_affine3<T, T>(src, m, b, dst, workers);
        return result;
    });
}

py::array bind_srgb_to_lab(const py::array& image, const py::object& lab, std::size_t workers) {
    return dispatch_pixel_type(image, [&](auto tag) {
        using T = decltype(tag);
        const auto src = image_view<const T>(image, "image");
        py::array result = prepare_output<float>(lab, {src.height, src.width, src.channels}, "lab");
        const auto dst = image_view<float>(result, "lab");
        py::gil_scoped_release release;
        srgb_to_lab<T>(src, dst, workers);
        return result;
    });
}

// The one output without a None form: its dtype is the only thing that says which pixel type
// to convert to.
py::array bind_lab_to_srgb(const py::array& lab, const py::object& out, std::size_t workers) {
    const auto src = image_view<const float>(lab, "lab");
    if (out.is_none()) throw std::invalid_argument("lab_to_srgb: out is needed: its dtype is the result's");
    const auto target = out.cast<py::array>();
    return dispatch_pixel_type(target, [&](auto tag) {
        using T = decltype(tag);
        py::array result = prepare_output<T>(out, {src.height, src.width, src.channels}, "out");
        const auto dst = image_view<T>(result, "out");
        py::gil_scoped_release release;
        lab_to_srgb<T>(src, dst, workers);
        return result;
    });
}

}  // namespace

void register_color(py::module_& m) {
    m.def("channel_histograms", &bind_histograms, py::arg("image"), py::arg("mask"), py::arg("counts"),
          py::arg("workers"),
          R"doc(Per-channel histograms of an integer (H, W, C) frame (private: see framefix.match_histograms).

mask None or (H, W) bool / uint8 (nonzero: counted); counts a C-contiguous (C, max + 1) int64
array (max = 255 or 65535), or None for a new one; it is overwritten. Returns counts.)doc");
    m.def("channel_moments", &bind_moments, py::arg("image"), py::arg("mask"), py::arg("workers"),
          R"doc((count, sums (3,), products (3, 3)) of the selected pixels of an (H, W, 3) frame, in code values, float64 (private: see framefix.fit_color_transform).)doc");
    m.def("sorted_channel_values", &bind_sorted_channel_values, py::arg("image"), py::arg("channel"), py::arg("mask"),
          R"doc(The selected values of one channel of a float32 (H, W, C) frame, sorted, as float32 (private: see framefix.match_histograms).)doc");
    m.def("match_float_channels", &bind_match_float_channels, py::arg("image"), py::arg("mask"),
          py::arg("ref_quantiles"), py::arg("ref_values"), py::arg("strength"), py::arg("out"),
          R"doc(Histogram matching of a float32 (H, W, C) frame, channel by channel (private: use framefix.match_histograms).

ref_quantiles, ref_values: per channel, C-contiguous float64 curves of equal length; out a
C-contiguous float32 array of the image's shape, or None. Returns out.)doc");
    m.def("apply_lut", &bind_apply_lut, py::arg("image"), py::arg("lut"), py::arg("out"), py::arg("workers"),
          R"doc(out[..., c] = lut[c, image[..., c]] for an integer (H, W, C) frame (private: see framefix.match_histograms).

lut a C-contiguous (C, bins) array of the image's dtype covering every code value; out of the
image's shape and dtype, or None. Returns out.)doc");
    m.def("apply_affine3", &bind_apply_affine3, py::arg("image"), py::arg("matrix"), py::arg("offset"), py::arg("out"),
          py::arg("workers"),
          R"doc(out = matrix @ pixel + offset for an (H, W, 3) frame, rounded and saturated (private: see framefix.ColorTransform).

matrix 9 and offset 3 C-contiguous float32 values, in code values; out of the image's shape and
dtype, or None. Returns out.)doc");
    m.def("srgb_to_lab", &bind_srgb_to_lab, py::arg("image"), py::arg("lab"), py::arg("workers"),
          R"doc(CIELAB (D65) of an sRGB (H, W, 3) frame (private: see framefix.color).

lab (H, W, 3) float32, or None for a new array. Returns lab.)doc");
    m.def("lab_to_srgb", &bind_lab_to_srgb, py::arg("lab"), py::arg("out"), py::arg("workers"),
          R"doc(sRGB of a CIELAB (H, W, 3) float32 image, rounded and saturated for integers (private: see framefix.color).

out (H, W, 3) uint8, uint16 or float32: required, its dtype selects the result's. Returns out.)doc");
}

}  // namespace framefix::bindings
