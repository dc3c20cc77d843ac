#pragma once
// Non-owning views over strided memory. Strides are in elements (not bytes) and may be negative,
// so numpy slices such as frame[::-1, ::2] are read in place.

#include <cstddef>

namespace framefix {

// (height, width, channels) pixels; a 2-D frame is a view with channels == 1.
template <class T>
struct ImageView {
    T* data = nullptr;
    std::ptrdiff_t height = 0, width = 0, channels = 0;
    std::ptrdiff_t stride_y = 0, stride_x = 0, stride_c = 0;

    T* pixel(std::ptrdiff_t y, std::ptrdiff_t x) const noexcept {
        return data + y * stride_y + x * stride_x;
    }
    bool same_size(std::ptrdiff_t h, std::ptrdiff_t w) const noexcept {
        return height == h && width == w;
    }
};

// (height, width) scalars: coordinate maps, masks.
template <class T>
struct PlaneView {
    T* data = nullptr;
    std::ptrdiff_t height = 0, width = 0;
    std::ptrdiff_t stride_y = 0, stride_x = 0;

    T* row(std::ptrdiff_t y) const noexcept { return data + y * stride_y; }
    bool same_size(std::ptrdiff_t h, std::ptrdiff_t w) const noexcept {
        return height == h && width == w;
    }
};

}  // namespace framefix
