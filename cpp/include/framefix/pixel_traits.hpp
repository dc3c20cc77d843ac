#pragma once
// Per-dtype facts the kernels need: the working type and how a working value becomes a pixel.
// Integers are rounded to nearest (ties to even, the IEEE default that std::lrint uses) and
// saturated, never truncated; the Numba twins use np.rint so both backends agree exactly.

#include <cmath>
#include <cstdint>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

namespace framefix {

// Round to nearest, ties to even. std::lrint may be an out-of-line libm call (it can set errno);
// on x86 one SSE instruction does the same under the default rounding mode.
inline long round_to_long(float v) noexcept {
#if defined(__SSE2__) || defined(_M_X64)
    return _mm_cvtss_si32(_mm_set_ss(v));
#else
    return std::lrint(v);
#endif
}

template <class T>
struct pixel_traits;

template <>
struct pixel_traits<std::uint8_t> {
    using work_t = float;
    static constexpr bool is_integer = true;
    static constexpr float max_value = 255.0f;
    static std::uint8_t from_work(float v) noexcept {
        v = v < 0.0f ? 0.0f : (v > max_value ? max_value : v);
        return static_cast<std::uint8_t>(round_to_long(v));
    }
};

template <>
struct pixel_traits<std::uint16_t> {
    using work_t = float;
    static constexpr bool is_integer = true;
    static constexpr float max_value = 65535.0f;
    static std::uint16_t from_work(float v) noexcept {
        v = v < 0.0f ? 0.0f : (v > max_value ? max_value : v);
        return static_cast<std::uint16_t>(round_to_long(v));
    }
};

template <>
struct pixel_traits<float> {
    using work_t = float;
    static constexpr bool is_integer = false;
    static constexpr float max_value = 1.0f;  // nominal: float frames are not clipped
    static float from_work(float v) noexcept { return v; }
};

}  // namespace framefix
