#pragma once
// Border rules named as numpy.pad names them. The numeric values are the positions of the names
// in framefix.warp.BORDERS; both backends receive these codes.

#include <cstddef>
#include <stdexcept>

namespace framefix {

enum class Border : int {
    constant = 0,   // taps outside read cval
    edge = 1,       // aaa|abcd|ddd  (OpenCV BORDER_REPLICATE)
    reflect = 2,    // dcb|abcd|cba  (OpenCV BORDER_REFLECT_101)
    symmetric = 3,  // cba|abcd|dcb  (OpenCV BORDER_REFLECT)
    wrap = 4,       // bcd|abcd|abc  (OpenCV BORDER_WRAP)
};

inline Border border_from_code(int code) {
    if (code < 0 || code > 4) throw std::invalid_argument("border code must be in 0..4");
    return static_cast<Border>(code);
}

// Index of the pixel that tap i reads in a line of n pixels, or -1 when the tap reads cval.
inline std::ptrdiff_t border_index(std::ptrdiff_t i, std::ptrdiff_t n, Border border) noexcept {
    if (i >= 0 && i < n) return i;
    switch (border) {
        case Border::constant:
            return -1;
        case Border::edge:
            return i < 0 ? 0 : n - 1;
        case Border::reflect: {
            if (n == 1) return 0;
            const std::ptrdiff_t period = 2 * n - 2;
            std::ptrdiff_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - m;
        }
        case Border::symmetric: {
            const std::ptrdiff_t period = 2 * n;
            std::ptrdiff_t m = i % period;
            if (m < 0) m += period;
            return m < n ? m : period - 1 - m;
        }
        case Border::wrap: {
            std::ptrdiff_t m = i % n;
            return m < 0 ? m + n : m;
        }
    }
    return -1;
}

}  // namespace framefix
