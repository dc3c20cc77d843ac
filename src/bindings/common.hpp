#pragma once
// What every binding file shares: numpy arrays -> framefix views, the out= convention, optional
// masks, raw tables and the dtype dispatch. The Python layer has already validated and
// explained; these checks are the last line against a caller that bypasses it, and they never
// convert or copy.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "framefix/image_view.hpp"

namespace framefix::bindings {

namespace py = pybind11;

// By kind, size and byte order, not object identity: arrays that went through pickle or another
// process carry equal but distinct dtype objects.
template <class T>
bool has_dtype(const py::array& a) {
    const py::dtype expected = py::dtype::of<T>();
    const py::dtype actual = a.dtype();
    const char order = actual.byteorder();
    return actual.kind() == expected.kind() && actual.itemsize() == expected.itemsize() &&
           (order == '=' || order == '|' || order == expected.byteorder());
}

inline std::ptrdiff_t element_stride(const py::array& a, int axis, const char* name) {
    const auto bytes = a.strides(axis);
    if (bytes % static_cast<py::ssize_t>(a.itemsize()) != 0)
        throw std::invalid_argument(std::string(name) + " has strides that are not a multiple of its item size");
    return bytes / static_cast<py::ssize_t>(a.itemsize());
}

inline void require_writeable(const py::array& a, const char* name) {
    if (!a.writeable()) throw std::invalid_argument(std::string(name) + " must be writeable");
}

// (H, W, C) array -> ImageView; T may be const.
template <class T>
ImageView<T> image_view(const py::array& a, const char* name) {
    using Pixel = std::remove_const_t<T>;
    if (!has_dtype<Pixel>(a) || a.ndim() != 3) throw std::invalid_argument(std::string(name) + " has the wrong dtype or rank");
    if constexpr (!std::is_const_v<T>) require_writeable(a, name);
    ImageView<T> v;
    v.data = static_cast<T*>(const_cast<void*>(a.data()));
    v.height = a.shape(0);
    v.width = a.shape(1);
    v.channels = a.shape(2);
    v.stride_y = element_stride(a, 0, name);
    v.stride_x = element_stride(a, 1, name);
    v.stride_c = element_stride(a, 2, name);
    return v;
}

// (H, W) array -> PlaneView; T may be const.
template <class T>
PlaneView<T> plane_view(const py::array& a, const char* name) {
    using Element = std::remove_const_t<T>;
    if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
    const bool dtype_ok = std::is_same_v<Element, std::uint8_t> ? (a.dtype().kind() == 'b' || has_dtype<std::uint8_t>(a))
                                                                 : has_dtype<Element>(a);
    if (!dtype_ok) throw std::invalid_argument(std::string(name) + " has the wrong dtype");
    if constexpr (!std::is_const_v<T>) require_writeable(a, name);
    PlaneView<T> v;
    v.data = static_cast<T*>(const_cast<void*>(a.data()));
    v.height = a.shape(0);
    v.width = a.shape(1);
    v.stride_y = element_stride(a, 0, name);
    v.stride_x = element_stride(a, 1, name);
    return v;
}

inline std::string describe_shape(const std::vector<py::ssize_t>& shape) {
    std::string text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + (shape.size() == 1 ? ",)" : ")");
}

// The out= convention of every binding that writes an array (after pypocketfft's
// prepare_output): None gets a new C-contiguous array; an array is written in place, so it must
// already have exactly the dtype and shape (nothing is converted) and be writeable. The binding
// returns the array either way, so callers may pass None and use the result.
template <class T>
py::array prepare_output(const py::object& out, const std::vector<py::ssize_t>& shape, const char* name) {
    if (out.is_none()) return py::array_t<T>(shape);
    if (!py::isinstance<py::array>(out))
        throw py::type_error(std::string(name) + " must be a numpy array or None, got " +
                             std::string(Py_TYPE(out.ptr())->tp_name));
    auto a = py::reinterpret_borrow<py::array>(out);
    const std::vector<py::ssize_t> actual(a.shape(), a.shape() + a.ndim());
    if (!has_dtype<T>(a) || actual != shape)
        throw std::invalid_argument(std::string(name) + " must be " + describe_shape(shape) + " " +
                                    std::string(py::str(py::dtype::of<T>())) + ", got " + describe_shape(actual) +
                                    " " + std::string(py::str(a.dtype())));
    require_writeable(a, name);
    return a;
}

// A C-contiguous array of exactly dtype T that a kernel reads through a raw pointer (tables,
// matrices, reference curves), of `size` elements (any size when negative).
template <class T>
const T* contiguous_data(const py::array& a, const char* name, py::ssize_t size = -1) {
    if (!has_dtype<T>(a) || !(a.flags() & py::array::c_style) || (size >= 0 && a.size() != size))
        throw std::invalid_argument(std::string(name) + " must be a C-contiguous array of the expected dtype and size");
    return static_cast<const T*>(a.data());
}

// An optional (H, W) selection: None, or bool / uint8 nonzero where selected.
template <class T>
std::optional<PlaneView<T>> optional_mask(const py::object& mask) {
    if (mask.is_none()) return std::nullopt;
    return plane_view<T>(mask.cast<py::array>(), "mask");
}

// Calls f(tag) with tag a value of the image's pixel type; anything else is refused by name.
template <class F>
decltype(auto) dispatch_pixel_type(const py::array& image, F&& f) {
    if (has_dtype<std::uint8_t>(image)) return f(std::uint8_t{});
    if (has_dtype<std::uint16_t>(image)) return f(std::uint16_t{});
    if (has_dtype<float>(image)) return f(float{});
    throw std::invalid_argument("image dtype must be uint8, uint16 or float32, got " +
                                std::string(py::str(image.dtype())));
}

}  // namespace framefix::bindings
