#pragma once
// Per-dtype facts the kernels need: the working type and how a working value becomes a pixel.
// Integers are rounded to nearest (ties to even, the IEEE default that std::lrint uses) and
// saturated, never truncated; the Numba twins use np.rint so both backends agree exactly.

#include <cmath>
#include <cstdint>

namespace framefix {

template <class T>
struct pixel_traits;

template <>
struct pixel_traits<std::uint8_t> {
    using work_t = float;
    static constexpr bool is_integer = true;
    static constexpr float max_value = 255.0f;
    static std::uint8_t from_work(float v) noexcept {
        v = v < 0.0f ? 0.0f : (v > max_value ? max_value : v);
        return static_cast<std::uint8_t>(std::lrint(v));
    }
};

template <>
struct pixel_traits<std::uint16_t> {
    using work_t = float;
    static constexpr bool is_integer = true;
    static constexpr float max_value = 65535.0f;
    static std::uint16_t from_work(float v) noexcept {
        v = v < 0.0f ? 0.0f : (v > max_value ? max_value : v);
        return static_cast<std::uint16_t>(std::lrint(v));
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
