#pragma once
// Backward warping: out[y, x] = image[sy, sx], where (sx, sy) is x + flow or an absolute map.
//
// Conventions (kept identical in the Numba twin, python/framefix/_numba/warp.py):
//   - integer coordinates are pixel centres; all arithmetic is float32, in the order written here,
//     so integer outputs agree exactly across backends and float outputs to the last bit (compile
//     with -ffp-contract=off: a fused multiply-add changes the last bits; the CMake target adds
//     it). Only the sign bit of a NaN result (from NaN or infinite pixels) is unspecified;
//   - the border rule applies to each interpolation tap, as OpenCV does;
//   - a non-finite sample point writes cval and a false mask; finite points beyond +-2^30 are
//     clamped there (float32 has no fraction left long before) so index maths stays defined;
//   - the mask is true where 0 <= sx <= width - 1 and 0 <= sy <= height - 1.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "border.hpp"
#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"
#include "sampling.hpp"
#include "simd.hpp"

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
constexpr std::ptrdiff_t kMaxSide = std::ptrdiff_t{1} << 30;  // the largest image side sampled

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

// Sample points for `count` consecutive output pixels of row y, starting at column x_begin.
struct FlowCoordinates {
    ImageView<const float> flow;  // (H, W, 2): dx, dy
    void load(std::ptrdiff_t y, std::ptrdiff_t x_begin, std::ptrdiff_t count, float* sx, float* sy) const noexcept {
        const float* f = flow.pixel(y, x_begin);
        const float row = static_cast<float>(y);
        const auto column = static_cast<std::int32_t>(x_begin);
        if (flow.stride_x == 2 && flow.stride_c == 1) {  // packed (dx, dy) pairs: vectorises
            for (std::ptrdiff_t i = 0; i < count; ++i) {
                sx[i] = static_cast<float>(column + static_cast<std::int32_t>(i)) + f[2 * i];
                sy[i] = row + f[2 * i + 1];
            }
            return;
        }
        for (std::ptrdiff_t i = 0; i < count; ++i) {
            sx[i] = static_cast<float>(column + static_cast<std::int32_t>(i)) + f[i * flow.stride_x];
            sy[i] = row + f[i * flow.stride_x + flow.stride_c];
        }
    }
};

struct MapCoordinates {
    PlaneView<const float> map_x, map_y;
    void load(std::ptrdiff_t y, std::ptrdiff_t x_begin, std::ptrdiff_t count, float* sx, float* sy) const noexcept {
        const float* mx = map_x.row(y) + x_begin * map_x.stride_x;
        const float* my = map_y.row(y) + x_begin * map_y.stride_x;
        for (std::ptrdiff_t i = 0; i < count; ++i) {
            sx[i] = mx[i * map_x.stride_x];
            sy[i] = my[i * map_y.stride_x];
        }
    }
};

// Output pixels are handled in blocks of a row: first every sample point of the block is
// located with branch-free arithmetic that the compiler vectorises, then each pixel whose taps
// all lie inside the image is interpolated directly; the rest (borders, non-finite points) take
// the general path through the border rule. Both paths do the same float32 operations.
constexpr std::ptrdiff_t kBlock = 256;
constexpr std::ptrdiff_t kPrefetchDistance = 24;

struct SampleBlock {
    alignas(16) float sx[kBlock];
    alignas(16) float sy[kBlock];
    alignas(16) float fx[kBlock];
    alignas(16) float fy[kBlock];
    alignas(16) std::int32_t ix[kBlock];
    alignas(16) std::int32_t iy[kBlock];
    alignas(16) std::int32_t interior[kBlock];  // nonzero: every tap inside the image
};

// Interior: every tap of the point is inside the image. Nearest looks at sx + 0.5 (its tap is
// floor(sx + 0.5)); linear needs floor(s) in [0, n - 2]; cubic floor(s) in [1, n - 3].
// `extra_right_margin` keeps one more column out when SIMD reads a fourth element past a
// 3-channel tap: that element then belongs to the next pixel, which exists.
template <Interpolation I>
void locate(SampleBlock& b, std::ptrdiff_t count, std::ptrdiff_t width, std::ptrdiff_t height,
            std::ptrdiff_t extra_right_margin) noexcept {
    constexpr float shift = I == Interpolation::nearest ? 0.5f : 0.0f;
    constexpr float low = I == Interpolation::cubic ? 1.0f : 0.0f;
    constexpr std::ptrdiff_t margin = I == Interpolation::nearest ? 0 : (I == Interpolation::linear ? 1 : 2);
    const float high_x = static_cast<float>(width - margin - extra_right_margin);
    const float high_y = static_cast<float>(height - margin);
    std::ptrdiff_t i = 0;
#ifdef FRAMEFIX_HAVE_SSE2
    // The same operations as the scalar loop below, four points at a time.
    const __m128 lows = _mm_set1_ps(low), shifts = _mm_set1_ps(shift);
    const __m128 highs_x = _mm_set1_ps(high_x), highs_y = _mm_set1_ps(high_y);
    for (; i + 4 <= count; i += 4) {
        __m128 px = _mm_load_ps(b.sx + i), py = _mm_load_ps(b.sy + i);
        if constexpr (shift != 0.0f) {
            px = _mm_add_ps(px, shifts);
            py = _mm_add_ps(py, shifts);
        }
        const __m128 inside = _mm_and_ps(_mm_and_ps(_mm_cmpge_ps(px, lows), _mm_cmplt_ps(px, highs_x)),
                                         _mm_and_ps(_mm_cmpge_ps(py, lows), _mm_cmplt_ps(py, highs_y)));
        const __m128 cx = _mm_or_ps(_mm_and_ps(inside, px), _mm_andnot_ps(inside, lows));
        const __m128 cy = _mm_or_ps(_mm_and_ps(inside, py), _mm_andnot_ps(inside, lows));
        const __m128i jx = _mm_cvttps_epi32(cx), jy = _mm_cvttps_epi32(cy);
        _mm_store_si128(reinterpret_cast<__m128i*>(b.ix + i), jx);
        _mm_store_si128(reinterpret_cast<__m128i*>(b.iy + i), jy);
        _mm_store_ps(b.fx + i, _mm_sub_ps(cx, _mm_cvtepi32_ps(jx)));
        _mm_store_ps(b.fy + i, _mm_sub_ps(cy, _mm_cvtepi32_ps(jy)));
        _mm_store_si128(reinterpret_cast<__m128i*>(b.interior + i), _mm_castps_si128(inside));
    }
#endif
    for (; i < count; ++i) {
        float px = b.sx[i], py = b.sy[i];
        if constexpr (shift != 0.0f) {
            px += shift;
            py += shift;
        }
        const bool inside = (px >= low) & (px < high_x) & (py >= low) & (py < high_y);  // false for NaN
        const float cx = inside ? px : low, cy = inside ? py : low;
        const auto jx = static_cast<std::int32_t>(cx), jy = static_cast<std::int32_t>(cy);  // floor: cx >= 0
        b.ix[i] = jx;
        b.iy[i] = jy;
        b.fx[i] = cx - static_cast<float>(jx);
        b.fy[i] = cy - static_cast<float>(jy);
        b.interior[i] = inside;
    }
}

inline void write_mask(const SampleBlock& b, std::ptrdiff_t count, std::ptrdiff_t width, std::ptrdiff_t height,
                       std::uint8_t* out, std::ptrdiff_t stride) noexcept {
    const float last_x = static_cast<float>(width - 1), last_y = static_cast<float>(height - 1);
    for (std::ptrdiff_t i = 0; i < count; ++i) {
        const float sx = b.sx[i], sy = b.sy[i];
        out[i * stride] = (sx >= 0.0f) & (sx <= last_x) & (sy >= 0.0f) & (sy <= last_y);  // false for NaN
    }
}

// Everything a row loop needs; C > 0 fixes the channel count at compile time. Packed: pixels
// of C adjacent channels, adjacent in the image (stride C) and channels adjacent in the output,
// so a pixel's channels go through SIMD lanes together.
template <class T, int C, bool Packed>
struct Sampler {
    ImageView<const T> src;
    Border border;
    T cval_pixel;
    float cval;  // cval as the kernel sees it (already rounded for integer pixels)

    static constexpr bool simd = Packed && (C == 3 || C == 4);
    // Columns kept out of the interior so a SIMD read of four elements at the last tap stays
    // inside the image (see locate).
    static constexpr std::ptrdiff_t simd_right_margin = simd && C == 3 ? 1 : 0;

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

    // --- interior points: all taps inside, (ix, iy) = floor of the point, (fx, fy) its fraction

    void interior_nearest(std::int32_t ix, std::int32_t iy, T* o, std::ptrdiff_t osc) const noexcept {
        const T* p = src.pixel(iy, ix);
        for (std::ptrdiff_t c = 0; c < channels(); ++c) o[c * osc] = p[c * src.stride_c];
    }

    void interior_linear(std::int32_t ix, std::int32_t iy, float fx, float fy, T* o, std::ptrdiff_t osc) const noexcept {
        const T* p00 = src.pixel(iy, ix);
        const T* p01 = p00 + src.stride_x;
        const T* p10 = p00 + src.stride_y;
        const T* p11 = p10 + src.stride_x;
#ifdef FRAMEFIX_HAVE_SSE2
        if constexpr (simd) {
            const __m128 tx = _mm_set1_ps(fx), ty = _mm_set1_ps(fy);
            __m128 a, b, d, e;
            if constexpr (std::is_same_v<T, std::uint8_t>) {
                simd::load_pair<C>(p00, a, b);
                simd::load_pair<C>(p10, d, e);
            } else {
                a = simd::load4(p00), b = simd::load4(p01), d = simd::load4(p10), e = simd::load4(p11);
            }
            const __m128 top = simd::lerp(a, b, tx);
            const __m128 bottom = simd::lerp(d, e, tx);
            simd::store<C>(o, simd::lerp(top, bottom, ty));
            return;
        }
#endif
        const std::ptrdiff_t sc = src.stride_c;
        for (std::ptrdiff_t c = 0; c < channels(); ++c) {
            const float a = static_cast<float>(p00[c * sc]), b = static_cast<float>(p01[c * sc]);
            const float d = static_cast<float>(p10[c * sc]), e = static_cast<float>(p11[c * sc]);
            o[c * osc] = pixel_traits<T>::from_work(bilinear(a, b, d, e, fx, fy));
        }
    }

    void interior_cubic(std::int32_t ix, std::int32_t iy, float fx, float fy, T* o, std::ptrdiff_t osc) const noexcept {
        float wx[4], wy[4];
        cubic_weights(fx, wx);
        cubic_weights(fy, wy);
        const T* p = src.pixel(iy - 1, ix - 1);
        const std::ptrdiff_t sx = src.stride_x, sy = src.stride_y, sc = src.stride_c;
#ifdef FRAMEFIX_HAVE_SSE2
        if constexpr (simd) {
            {
                __m128 rows[4];
                for (int j = 0; j < 4; ++j) {
                    const T* r = p + j * sy;
                    __m128 acc = _mm_mul_ps(_mm_set1_ps(wx[0]), simd::load4(r));
                    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wx[1]), simd::load4(r + sx)));
                    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wx[2]), simd::load4(r + 2 * sx)));
                    rows[j] = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wx[3]), simd::load4(r + 3 * sx)));
                }
                __m128 v = _mm_mul_ps(_mm_set1_ps(wy[0]), rows[0]);
                v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wy[1]), rows[1]));
                v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wy[2]), rows[2]));
                v = _mm_add_ps(v, _mm_mul_ps(_mm_set1_ps(wy[3]), rows[3]));
                simd::store<C>(o, v);
                return;
            }
        }
#endif
        for (std::ptrdiff_t c = 0; c < channels(); ++c) {
            float rows[4];
            for (int j = 0; j < 4; ++j) {
                const T* r = p + j * sy + c * sc;
                rows[j] = wx[0] * static_cast<float>(r[0]) + wx[1] * static_cast<float>(r[sx]) +
                          wx[2] * static_cast<float>(r[2 * sx]) + wx[3] * static_cast<float>(r[3 * sx]);
            }
            o[c * osc] = pixel_traits<T>::from_work(wy[0] * rows[0] + wy[1] * rows[1] + wy[2] * rows[2] +
                                                    wy[3] * rows[3]);
        }
    }

    // --- any point: the border rule on each tap, cval for non-finite points

    template <Interpolation I>
    void general(float sx, float sy, T* o, std::ptrdiff_t osc) const noexcept {
        if (!(std::isfinite(sx) && std::isfinite(sy))) return fill(o, osc);
        sx = clamp_coordinate(sx);
        sy = clamp_coordinate(sy);
        if constexpr (I == Interpolation::nearest) {
            const T* p = tap(floor_index(clamp_coordinate(sx + 0.5f)), floor_index(clamp_coordinate(sy + 0.5f)));
            if (p == nullptr) return fill(o, osc);
            for (std::ptrdiff_t c = 0; c < channels(); ++c) o[c * osc] = p[c * src.stride_c];
        } else if constexpr (I == Interpolation::linear) {
            const std::ptrdiff_t x0 = floor_index(sx), y0 = floor_index(sy);
            const float fx = sx - static_cast<float>(x0), fy = sy - static_cast<float>(y0);
            const T* p00 = tap(x0, y0);
            const T* p01 = tap(x0 + 1, y0);
            const T* p10 = tap(x0, y0 + 1);
            const T* p11 = tap(x0 + 1, y0 + 1);
            for (std::ptrdiff_t c = 0; c < channels(); ++c) {
                const float a = value(p00, c), b = value(p01, c);
                const float d = value(p10, c), e = value(p11, c);
                o[c * osc] = pixel_traits<T>::from_work(bilinear(a, b, d, e, fx, fy));
            }
        } else {
            const std::ptrdiff_t x0 = floor_index(sx), y0 = floor_index(sy);
            float wx[4], wy[4];
            cubic_weights(sx - static_cast<float>(x0), wx);
            cubic_weights(sy - static_cast<float>(y0), wy);
            const T* taps[4][4];
            for (int j = 0; j < 4; ++j)
                for (int i = 0; i < 4; ++i) taps[j][i] = tap(x0 - 1 + i, y0 - 1 + j);
            for (std::ptrdiff_t c = 0; c < channels(); ++c) {
                float rows[4];
                for (int j = 0; j < 4; ++j) {
                    rows[j] = wx[0] * value(taps[j][0], c) + wx[1] * value(taps[j][1], c) +
                              wx[2] * value(taps[j][2], c) + wx[3] * value(taps[j][3], c);
                }
                o[c * osc] = pixel_traits<T>::from_work(wy[0] * rows[0] + wy[1] * rows[1] + wy[2] * rows[2] +
                                                        wy[3] * rows[3]);
            }
        }
    }
};

// Arguments by value: the row loop then works on locals the compiler knows nothing aliases
// (a uint8 output store may otherwise alias anything and force reloads of every field).
template <class T, Interpolation I, int C, bool Packed, class Coordinates>
void remap_rows(const Sampler<T, C, Packed> sampler, const Coordinates coordinates, const ImageView<T> dst,
                const PlaneView<std::uint8_t> mask, const bool has_mask, std::ptrdiff_t y_begin,
                std::ptrdiff_t y_end) {
    SampleBlock block;
    const std::ptrdiff_t width = sampler.src.width, height = sampler.src.height;
    for (std::ptrdiff_t y = y_begin; y < y_end; ++y) {
        T* out_row = dst.data + y * dst.stride_y;
        for (std::ptrdiff_t x_begin = 0; x_begin < dst.width; x_begin += kBlock) {
            const std::ptrdiff_t count = std::min(kBlock, dst.width - x_begin);
            coordinates.load(y, x_begin, count, block.sx, block.sy);
            if (has_mask) write_mask(block, count, width, height, mask.row(y) + x_begin * mask.stride_x, mask.stride_x);
            locate<I>(block, count, width, height,
                      I == Interpolation::nearest ? 0 : sampler.simd_right_margin);
            T* o = out_row + x_begin * dst.stride_x;
            for (std::ptrdiff_t i = 0; i < count; ++i, o += dst.stride_x) {
#ifdef FRAMEFIX_HAVE_SSE2
                // The sample points are known ahead: start fetching the taps a few pixels early,
                // as gathers from rows the hardware prefetcher does not follow stall the loop
                // (every fourth pixel: neighbours mostly share cache lines).
                if constexpr (I != Interpolation::nearest) {  // interior: the row below exists
                    if ((i & 3) == 0 && i + kPrefetchDistance < count && block.interior[i + kPrefetchDistance]) {
                        const T* ahead =
                            sampler.src.pixel(block.iy[i + kPrefetchDistance], block.ix[i + kPrefetchDistance]);
                        _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
                        _mm_prefetch(reinterpret_cast<const char*>(ahead + sampler.src.stride_y), _MM_HINT_T0);
                    }
                }
#endif
                if (!block.interior[i]) {
                    sampler.template general<I>(block.sx[i], block.sy[i], o, dst.stride_c);
                } else if constexpr (I == Interpolation::nearest) {
                    sampler.interior_nearest(block.ix[i], block.iy[i], o, dst.stride_c);
                } else if constexpr (I == Interpolation::linear) {
                    sampler.interior_linear(block.ix[i], block.iy[i], block.fx[i], block.fy[i], o, dst.stride_c);
                } else {
                    sampler.interior_cubic(block.ix[i], block.iy[i], block.fx[i], block.fy[i], o, dst.stride_c);
                }
            }
        }
    }
}

template <class T, class Coordinates>
void remap_dispatch(const ImageView<const T>& src, const Coordinates& coordinates, const ImageView<T>& dst,
                    const PlaneView<std::uint8_t>* mask, Interpolation interpolation, Border border,
                    float cval, std::size_t workers) {
    if (src.height <= 0 || src.width <= 0 || src.channels <= 0)
        throw std::invalid_argument("image must not be empty");
    // Sample indices are 32-bit and coordinates are clamped to +-2^30: larger sides would index
    // past the image.
    if (src.height > kMaxSide || src.width > kMaxSide)
        throw std::invalid_argument("image sides must be at most 2^30 pixels");
    if (dst.channels != src.channels) throw std::invalid_argument("out must have the image's channels");
    if (mask && !mask->same_size(dst.height, dst.width))
        throw std::invalid_argument("mask must have the output's height and width");

    const T cval_pixel = pixel_traits<T>::from_work(cval);
    const bool packed = src.stride_c == 1 && src.stride_x == src.channels && dst.stride_c == 1;
    const PlaneView<std::uint8_t> mask_view = mask ? *mask : PlaneView<std::uint8_t>{};
    auto run = [&](auto interpolation_tag, auto channels_tag) {
        constexpr Interpolation I = decltype(interpolation_tag)::value;
        constexpr int C = decltype(channels_tag)::value;
        auto rows = [&](auto sampler) {
            threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
                remap_rows<T, I>(sampler, coordinates, dst, mask_view, mask != nullptr, y0, y1);
            });
        };
        const float cval_work = static_cast<float>(cval_pixel);
        if (packed && (C == 3 || C == 4)) return rows(Sampler<T, C, true>{src, border, cval_pixel, cval_work});
        return rows(Sampler<T, C, false>{src, border, cval_pixel, cval_work});
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
