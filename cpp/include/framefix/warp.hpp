#pragma once
// Backward warping: out[y, x] = image[sy, sx], where (sx, sy) is x + flow or an absolute map.
//
// Conventions (kept identical in the Numba twin, python/framefix/_numba/warp.py):
//   - integer coordinates are pixel centres; all arithmetic is float32, in the order written here,
//     so integer outputs agree exactly across backends and float outputs to the last bit;
//   - the border rule applies to each interpolation tap, as OpenCV does;
//   - a non-finite sample point writes cval and a false mask; finite points beyond +-2^30 are
//     clamped there (float32 has no fraction left long before) so index maths stays defined;
//   - the mask is true where 0 <= sx <= width - 1 and 0 <= sy <= height - 1.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "border.hpp"
#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"

namespace framefix {

// Values are the positions of the names in framefix.warp.INTERPOLATIONS.
enum class Interpolation : int {
    nearest = 0,
    linear = 1,
    cubic = 2,  // Keys cubic convolution with a = -0.5 (Catmull-Rom); OpenCV's INTER_CUBIC uses -0.75
};

inline Interpolation interpolation_from_code(int code) {
    if (code < 0 || code > 2) throw std::invalid_argument("interpolation code must be in 0..2");
    return static_cast<Interpolation>(code);
}

namespace detail {

constexpr float kMaxCoordinate = 1073741824.0f;  // 2^30

inline float clamp_coordinate(float v) noexcept {
    return v < -kMaxCoordinate ? -kMaxCoordinate : (v > kMaxCoordinate ? kMaxCoordinate : v);
}

// floor() for clamped coordinates, without a libm call on baseline x86-64.
inline std::ptrdiff_t floor_index(float v) noexcept {
    const auto i = static_cast<std::ptrdiff_t>(v);
    return static_cast<float>(i) > v ? i - 1 : i;
}

inline void cubic_weights(float t, float w[4]) noexcept {
    w[0] = t * (t * (1.0f - 0.5f * t) - 0.5f);
    w[1] = 1.0f + t * t * (1.5f * t - 2.5f);
    w[2] = t * (0.5f + t * (2.0f - 1.5f * t));
    w[3] = t * t * (0.5f * t - 0.5f);
}

struct FlowCoordinates {
    ImageView<const float> flow;  // (H, W, 2): dx, dy
    void at(std::ptrdiff_t y, std::ptrdiff_t x, float& sx, float& sy) const noexcept {
        const float* f = flow.pixel(y, x);
        sx = static_cast<float>(x) + f[0];
        sy = static_cast<float>(y) + f[flow.stride_c];
    }
};

struct MapCoordinates {
    PlaneView<const float> map_x, map_y;
    void at(std::ptrdiff_t y, std::ptrdiff_t x, float& sx, float& sy) const noexcept {
        sx = map_x.row(y)[x * map_x.stride_x];
        sy = map_y.row(y)[x * map_y.stride_x];
    }
};

// Everything a row loop needs; C > 0 fixes the channel count at compile time.
template <class T, int C>
struct Sampler {
    ImageView<const T> src;
    Border border;
    T cval_pixel;
    float cval;  // cval as the kernel sees it (already rounded for integer pixels)

    std::ptrdiff_t channels() const noexcept { return C > 0 ? C : src.channels; }

    void fill(T* o, std::ptrdiff_t osc) const noexcept {
        for (std::ptrdiff_t c = 0; c < channels(); ++c) o[c * osc] = cval_pixel;
    }

    // Pointer to the pixel a tap reads, or nullptr for cval.
    const T* tap(std::ptrdiff_t ix, std::ptrdiff_t iy) const noexcept {
        const std::ptrdiff_t bx = border_index(ix, src.width, border);
        const std::ptrdiff_t by = border_index(iy, src.height, border);
        return (bx < 0 || by < 0) ? nullptr : src.pixel(by, bx);
    }

    float value(const T* p, std::ptrdiff_t c) const noexcept {
        return p ? static_cast<float>(p[c * src.stride_c]) : cval;
    }

    void nearest(float sx, float sy, T* o, std::ptrdiff_t osc) const noexcept {
        const std::ptrdiff_t ix = floor_index(clamp_coordinate(sx + 0.5f));
        const std::ptrdiff_t iy = floor_index(clamp_coordinate(sy + 0.5f));
        const T* p = tap(ix, iy);
        if (p == nullptr) return fill(o, osc);
        for (std::ptrdiff_t c = 0; c < channels(); ++c) o[c * osc] = p[c * src.stride_c];
    }

    void linear(float sx, float sy, T* o, std::ptrdiff_t osc) const noexcept {
        const std::ptrdiff_t x0 = floor_index(sx), y0 = floor_index(sy);
        const float fx = sx - static_cast<float>(x0), fy = sy - static_cast<float>(y0);
        const std::ptrdiff_t sc = src.stride_c;
        if (x0 >= 0 && x0 + 1 < src.width && y0 >= 0 && y0 + 1 < src.height) {
            const T* p00 = src.pixel(y0, x0);
            const T* p01 = p00 + src.stride_x;
            const T* p10 = p00 + src.stride_y;
            const T* p11 = p10 + src.stride_x;
            for (std::ptrdiff_t c = 0; c < channels(); ++c) {
                const float a = static_cast<float>(p00[c * sc]), b = static_cast<float>(p01[c * sc]);
                const float d = static_cast<float>(p10[c * sc]), e = static_cast<float>(p11[c * sc]);
                const float top = a + fx * (b - a);
                const float bottom = d + fx * (e - d);
                o[c * osc] = pixel_traits<T>::from_work(top + fy * (bottom - top));
            }
            return;
        }
        const T* p00 = tap(x0, y0);
        const T* p01 = tap(x0 + 1, y0);
        const T* p10 = tap(x0, y0 + 1);
        const T* p11 = tap(x0 + 1, y0 + 1);
        for (std::ptrdiff_t c = 0; c < channels(); ++c) {
            const float a = value(p00, c), b = value(p01, c);
            const float d = value(p10, c), e = value(p11, c);
            const float top = a + fx * (b - a);
            const float bottom = d + fx * (e - d);
            o[c * osc] = pixel_traits<T>::from_work(top + fy * (bottom - top));
        }
    }

    void cubic(float sx, float sy, T* o, std::ptrdiff_t osc) const noexcept {
        const std::ptrdiff_t x0 = floor_index(sx), y0 = floor_index(sy);
        float wx[4], wy[4];
        cubic_weights(sx - static_cast<float>(x0), wx);
        cubic_weights(sy - static_cast<float>(y0), wy);
        const T* taps[4][4];
        if (x0 >= 1 && x0 + 2 < src.width && y0 >= 1 && y0 + 2 < src.height) {
            for (int j = 0; j < 4; ++j)
                for (int i = 0; i < 4; ++i) taps[j][i] = src.pixel(y0 - 1 + j, x0 - 1 + i);
        } else {
            for (int j = 0; j < 4; ++j)
                for (int i = 0; i < 4; ++i) taps[j][i] = tap(x0 - 1 + i, y0 - 1 + j);
        }
        for (std::ptrdiff_t c = 0; c < channels(); ++c) {
            float rows[4];
            for (int j = 0; j < 4; ++j) {
                rows[j] = wx[0] * value(taps[j][0], c) + wx[1] * value(taps[j][1], c) +
                          wx[2] * value(taps[j][2], c) + wx[3] * value(taps[j][3], c);
            }
            o[c * osc] = pixel_traits<T>::from_work(wy[0] * rows[0] + wy[1] * rows[1] +
                                                    wy[2] * rows[2] + wy[3] * rows[3]);
        }
    }
};

template <class T, Interpolation I, int C, class Coordinates>
void remap_rows(const Sampler<T, C>& sampler, const Coordinates& coordinates, const ImageView<T>& dst,
                const PlaneView<std::uint8_t>* mask, std::ptrdiff_t y_begin, std::ptrdiff_t y_end) {
    const float last_x = static_cast<float>(sampler.src.width - 1);
    const float last_y = static_cast<float>(sampler.src.height - 1);
    for (std::ptrdiff_t y = y_begin; y < y_end; ++y) {
        std::uint8_t* mask_row = mask ? mask->row(y) : nullptr;
        for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
            float sx, sy;
            coordinates.at(y, x, sx, sy);
            T* o = dst.pixel(y, x);
            if (!(std::isfinite(sx) && std::isfinite(sy))) {
                sampler.fill(o, dst.stride_c);
                if (mask_row) mask_row[x * mask->stride_x] = 0;
                continue;
            }
            if (mask_row) mask_row[x * mask->stride_x] = (sx >= 0.0f && sx <= last_x && sy >= 0.0f && sy <= last_y);
            sx = clamp_coordinate(sx);
            sy = clamp_coordinate(sy);
            if constexpr (I == Interpolation::nearest) sampler.nearest(sx, sy, o, dst.stride_c);
            if constexpr (I == Interpolation::linear) sampler.linear(sx, sy, o, dst.stride_c);
            if constexpr (I == Interpolation::cubic) sampler.cubic(sx, sy, o, dst.stride_c);
        }
    }
}

template <class T, class Coordinates>
void remap_dispatch(const ImageView<const T>& src, const Coordinates& coordinates, const ImageView<T>& dst,
                    const PlaneView<std::uint8_t>* mask, Interpolation interpolation, Border border,
                    float cval, std::size_t workers) {
    if (src.height <= 0 || src.width <= 0 || src.channels <= 0)
        throw std::invalid_argument("image must not be empty");
    if (dst.channels != src.channels) throw std::invalid_argument("out must have the image's channels");
    if (mask && !mask->same_size(dst.height, dst.width))
        throw std::invalid_argument("mask must have the output's height and width");

    const T cval_pixel = pixel_traits<T>::from_work(cval);
    auto run = [&](auto interpolation_tag, auto channels_tag) {
        constexpr Interpolation I = decltype(interpolation_tag)::value;
        constexpr int C = decltype(channels_tag)::value;
        const Sampler<T, C> sampler{src, border, cval_pixel, static_cast<float>(cval_pixel)};
        threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
            remap_rows<T, I, C>(sampler, coordinates, dst, mask, y0, y1);
        });
    };
    auto with_channels = [&](auto interpolation_tag) {
        switch (src.channels) {
            case 1: return run(interpolation_tag, std::integral_constant<int, 1>{});
            case 3: return run(interpolation_tag, std::integral_constant<int, 3>{});
            case 4: return run(interpolation_tag, std::integral_constant<int, 4>{});
            default: return run(interpolation_tag, std::integral_constant<int, 0>{});
        }
    };
    switch (interpolation) {
        case Interpolation::nearest:
            return with_channels(std::integral_constant<Interpolation, Interpolation::nearest>{});
        case Interpolation::linear:
            return with_channels(std::integral_constant<Interpolation, Interpolation::linear>{});
        case Interpolation::cubic:
            return with_channels(std::integral_constant<Interpolation, Interpolation::cubic>{});
    }
}

}  // namespace detail

// out[y, x] = image[y + flow[y, x, 1], x + flow[y, x, 0]]; mask (optional) gets the validity.
template <class T>
void warp(const ImageView<const T>& image, const ImageView<const float>& flow, const ImageView<T>& out,
          const PlaneView<std::uint8_t>* mask, Interpolation interpolation, Border border, float cval,
          std::size_t workers = 1) {
    if (flow.channels != 2) throw std::invalid_argument("warp: flow must have 2 channels (dx, dy)");
    if (!flow.same_size(image.height, image.width) || !out.same_size(image.height, image.width))
        throw std::invalid_argument("warp: image, flow and out must have the same height and width");
    detail::remap_dispatch(image, detail::FlowCoordinates{flow}, out, mask, interpolation, border, cval, workers);
}

// out[y, x] = image[map_y[y, x], map_x[y, x]]; the output takes the maps' size.
template <class T>
void remap(const ImageView<const T>& image, const PlaneView<const float>& map_x, const PlaneView<const float>& map_y,
           const ImageView<T>& out, const PlaneView<std::uint8_t>* mask, Interpolation interpolation, Border border,
           float cval, std::size_t workers = 1) {
    if (!map_x.same_size(map_y.height, map_y.width))
        throw std::invalid_argument("remap: map_x and map_y must have the same shape");
    if (!out.same_size(map_x.height, map_x.width))
        throw std::invalid_argument("remap: out must have the maps' height and width");
    detail::remap_dispatch(image, detail::MapCoordinates{map_x, map_y}, out, mask, interpolation, border, cval,
                           workers);
}

}  // namespace framefix
