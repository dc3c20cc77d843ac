#pragma once
// The flow estimator's pyramid: its input plane (luma of a frame), the halving from one level to
// the next and the resizing of a flow field between levels. python/framefix/flow.py runs the
// levels; the Numba twins are in python/framefix/_numba/flow.py.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"
#include "sampling.hpp"
#include "simd.hpp"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace framefix {

namespace detail {

constexpr float kLumaWeights[3] = {0.2126f, 0.7152f, 0.0722f};

// The scalar luma formula (before the scale), in the order every path and the twin use.
inline float weighted_luma(float r, float g, float b) noexcept {
    return kLumaWeights[0] * r + kLumaWeights[1] * g + kLumaWeights[2] * b;
}

// The mean of a 2x2 block (rows a and b, columns left and right), in halve_plane's order.
inline float block_mean(float a_left, float b_left, float a_right, float b_right) noexcept {
    return (a_left + b_left + a_right + b_right) * 0.25f;
}

#ifdef FRAMEFIX_HAVE_SSE2
// The luma of four packed pixels held in a, b, c (and d for four channels) as floats, their
// channels gathered into one register each by shuffles: the scalar formula's products and sums,
// lane by lane. (The compiler's own vectorisation of the strided loop did two pixels at a time.)
template <int channels>
inline __m128 luma4(__m128 a, __m128 b, __m128 c, __m128 d, __m128 scale) noexcept {
    __m128 red, green, blue;
    if constexpr (channels == 3) {  // r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3
        const __m128 r2g2r3g3 = _mm_shuffle_ps(b, c, _MM_SHUFFLE(2, 1, 3, 2));
        const __m128 g0b0g1b1 = _mm_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 2, 1));
        red = _mm_shuffle_ps(a, r2g2r3g3, _MM_SHUFFLE(2, 0, 3, 0));
        green = _mm_shuffle_ps(g0b0g1b1, r2g2r3g3, _MM_SHUFFLE(3, 1, 2, 0));
        blue = _mm_shuffle_ps(g0b0g1b1, c, _MM_SHUFFLE(3, 0, 3, 1));
    } else {
        _MM_TRANSPOSE4_PS(a, b, c, d);
        red = a;
        green = b;
        blue = c;
    }
    const __m128 sum = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(kLumaWeights[0]), red),
                                             _mm_mul_ps(_mm_set1_ps(kLumaWeights[1]), green)),
                                  _mm_mul_ps(_mm_set1_ps(kLumaWeights[2]), blue));
    return _mm_mul_ps(sum, scale);
}

// Packed 8-bit RGB or RGBA pixels of a row from x on, four a step, 16 bytes a load (for RGB the
// load also reads the next pixels' first 4 bytes, which must exist). Returns where it stopped.
template <int channels>
std::ptrdiff_t luma_u8_sse2(const std::uint8_t* __restrict p, std::ptrdiff_t x, std::ptrdiff_t width, float scale,
                            float* __restrict out) noexcept {
    const __m128i zero = _mm_setzero_si128();
    const __m128 factor = _mm_set1_ps(scale);
    const std::ptrdiff_t end = channels == 3 ? width - 2 : width;  // 3 (x + 4) + 4 <= 3 width
    for (; x + 4 <= end; x += 4) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + channels * x));
        const __m128i low = _mm_unpacklo_epi8(bytes, zero), high = _mm_unpackhi_epi8(bytes, zero);
        const __m128 a = _mm_cvtepi32_ps(_mm_unpacklo_epi16(low, zero));
        const __m128 b = _mm_cvtepi32_ps(_mm_unpackhi_epi16(low, zero));
        const __m128 c = _mm_cvtepi32_ps(_mm_unpacklo_epi16(high, zero));
        const __m128 d = _mm_cvtepi32_ps(_mm_unpackhi_epi16(high, zero));
        _mm_storeu_ps(out + x, luma4<channels>(a, b, c, d, factor));
    }
    return x;
}
#endif

#ifdef __AVX2__
// Packed 8-bit RGB pixels of a row, eight a step, for the AVX2 build: byte shuffles gather each
// channel of eight pixels (24 bytes, read as two overlapping 16-byte loads) before widening: a
// third of the shuffles luma_u8_sse2 needs for the same pixels, which bound its speed. The
// products and sums are luma4's, lane by lane. Returns where it stopped.
inline std::ptrdiff_t luma_rgb8_avx2(const std::uint8_t* __restrict p, std::ptrdiff_t width, float scale,
                                     float* __restrict out) noexcept {
    constexpr char none = -1;  // a shuffle index that yields a zero byte
    // bytes 0-15 (lo) and 8-23 (hi) of eight pixels: red and green into one register's two halves
    const __m128i red_green_lo = _mm_setr_epi8(0, 3, 6, 9, 12, 15, none, none, 1, 4, 7, 10, 13, none, none, none);
    const __m128i red_green_hi = _mm_setr_epi8(none, none, none, none, none, none, 10, 13, none, none, none, none, none,
                                               8, 11, 14);
    const __m128i blue_lo = _mm_setr_epi8(2, 5, 8, 11, 14, none, none, none, none, none, none, none, none, none, none,
                                          none);
    const __m128i blue_hi = _mm_setr_epi8(none, none, none, none, none, 9, 12, 15, none, none, none, none, none, none,
                                          none, none);
    const __m256 factor = _mm256_set1_ps(scale);
    const __m256 weight_red = _mm256_set1_ps(kLumaWeights[0]);
    const __m256 weight_green = _mm256_set1_ps(kLumaWeights[1]);
    const __m256 weight_blue = _mm256_set1_ps(kLumaWeights[2]);
    std::ptrdiff_t x = 0;
    for (; x + 8 <= width; x += 8) {
        const std::uint8_t* q = p + 3 * x;
        const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 8));
        const __m128i red_green = _mm_or_si128(_mm_shuffle_epi8(lo, red_green_lo), _mm_shuffle_epi8(hi, red_green_hi));
        const __m128i blue = _mm_or_si128(_mm_shuffle_epi8(lo, blue_lo), _mm_shuffle_epi8(hi, blue_hi));
        const __m256 red = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(red_green));
        const __m256 green = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(red_green, 8)));
        const __m256 blue_f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(blue));
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(weight_red, red), _mm256_mul_ps(weight_green, green)),
                                         _mm256_mul_ps(weight_blue, blue_f));
        _mm256_storeu_ps(out + x, _mm256_mul_ps(sum, factor));
    }
    return x;
}
#endif

// Row y of flow_luma into `out` (contiguous), the same bits whatever the layout: -ffp-contract=off
// keeps the products and sums as written, and the Numba twin follows the scalar formula. Colour
// pixels packed in rows (the usual RGB or RGBA frame) go four at a time: 8-bit ones straight from
// the row (8-bit RGB eight at a time first, when compiled for AVX2), others widened to float a row
// at a time into `widened` (channels x width floats) first; a small fraction of the time of
// fetching every pixel through its strides.
template <class T>
void luma_row(const ImageView<const T>& image, std::ptrdiff_t y, bool packed, float* __restrict widened,
              float* __restrict out) {
    const float scale = 1.0f / pixel_traits<T>::max_value;
    const std::ptrdiff_t channels = image.channels, width = image.width;
    if (packed) {
        const T* __restrict p = image.pixel(y, 0);
        std::ptrdiff_t x = 0;
        const float* f = widened;  // the row as floats (8-bit rows: only where the SSE2 path stopped)
#ifdef FRAMEFIX_HAVE_SSE2
        if constexpr (std::is_same_v<T, std::uint8_t>) {
#ifdef __AVX2__
            if (channels == 3) x = luma_rgb8_avx2(p, width, scale, out);
#endif
            if (channels == 3) x = luma_u8_sse2<3>(p, x, width, scale, out);
            if (channels == 4) x = luma_u8_sse2<4>(p, x, width, scale, out);
        }
#endif
        for (std::ptrdiff_t i = channels * x; i < channels * width; ++i) widened[i] = static_cast<float>(p[i]);
#ifdef FRAMEFIX_HAVE_SSE2
        const __m128 factor = _mm_set1_ps(scale);
        const __m128 unused = _mm_setzero_ps();
        for (; x + 4 <= width && (channels == 3 || channels == 4); x += 4) {
            const float* q = f + channels * x;
            if (channels == 3)
                _mm_storeu_ps(out + x, luma4<3>(_mm_loadu_ps(q), _mm_loadu_ps(q + 4), _mm_loadu_ps(q + 8), unused, factor));
            else
                _mm_storeu_ps(out + x, luma4<4>(_mm_loadu_ps(q), _mm_loadu_ps(q + 4), _mm_loadu_ps(q + 8),
                                                _mm_loadu_ps(q + 12), factor));
        }
#endif
        for (; x < width; ++x)
            out[x] = weighted_luma(f[channels * x], f[channels * x + 1], f[channels * x + 2]) * scale;
        return;
    }
    for (std::ptrdiff_t x = 0; x < width; ++x) {
        const T* p = image.pixel(y, x);
        float value;
        if (channels == 1)
            value = static_cast<float>(p[0]);
        else
            value = weighted_luma(static_cast<float>(p[0]), static_cast<float>(p[image.stride_c]),
                                  static_cast<float>(p[2 * image.stride_c]));
        out[x] = value * scale;
    }
}

template <class T>
bool packed_colour(const ImageView<const T>& image) noexcept {
    return image.channels >= 3 && image.stride_c == 1 && image.stride_x == image.channels;
}

}  // namespace detail

// The estimator's input plane: Rec. 709 luma of the first three channels (or the only channel),
// in 0..1 for integer pixels.
template <class T>
void flow_luma(const ImageView<const T>& image, const PlaneView<float>& out, std::size_t workers = 1) {
    if (!out.same_size(image.height, image.width) || (image.channels != 1 && image.channels < 3))
        throw std::invalid_argument("flow_luma: out must match the image, which must have 1, 3 or 4 channels");
    const bool packed = detail::packed_colour(image);
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> widened(packed ? static_cast<std::size_t>(image.channels * image.width) : 0);
        std::vector<float> row(out.stride_x == 1 ? 0 : static_cast<std::size_t>(image.width));
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            if (out.stride_x == 1) {
                detail::luma_row(image, y, packed, widened.data(), out.row(y));
                continue;
            }
            detail::luma_row(image, y, packed, widened.data(), row.data());
            for (std::ptrdiff_t x = 0; x < image.width; ++x) out.row(y)[x * out.stride_x] = row[x];
        }
    });
}

// halve_plane(flow_luma(image)) in one pass, with the same bits: two luma rows at a time, each
// averaged into the half-size plane while still in cache, without writing the full-size plane.
// For the presets that start at half resolution or coarser.
template <class T>
void flow_luma_halved(const ImageView<const T>& image, const PlaneView<float>& out, std::size_t workers = 1) {
    if (!out.same_size(image.height / 2, image.width / 2) || out.height < 1 || out.width < 1 ||
        (image.channels != 1 && image.channels < 3))
        throw std::invalid_argument("flow_luma_halved: out must be half the image, which must have 1, 3 or 4 channels");
    const bool packed = detail::packed_colour(image);
    threading::parallel_for(0, out.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> widened(packed ? static_cast<std::size_t>(image.channels * image.width) : 0);
        std::vector<float> rows(static_cast<std::size_t>(2 * image.width));
        float* __restrict a = rows.data();
        float* __restrict b = rows.data() + image.width;
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            detail::luma_row(image, 2 * y, packed, widened.data(), a);
            detail::luma_row(image, 2 * y + 1, packed, widened.data(), b);
            float* o = out.row(y);
            for (std::ptrdiff_t x = 0; x < out.width; ++x)
                o[x * out.stride_x] = detail::block_mean(a[2 * x], b[2 * x], a[2 * x + 1], b[2 * x + 1]);
        }
    });
}

// 2x2 box average into a plane of half the size (an odd last row or column is dropped).
inline void halve_plane(const PlaneView<const float>& src, const PlaneView<float>& dst, std::size_t workers = 1) {
    if (!dst.same_size(src.height / 2, src.width / 2) || dst.height < 1 || dst.width < 1)
        throw std::invalid_argument("halve_plane: dst must be half the size of src");
    threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const float* a = src.row(2 * y);
            const float* b = src.row(2 * y + 1);
            float* o = dst.row(y);
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                const std::ptrdiff_t left = 2 * x * src.stride_x, right = (2 * x + 1) * src.stride_x;
                o[x * dst.stride_x] = detail::block_mean(a[left], b[left], a[right], b[right]);
            }
        }
    });
}

// Bilinear resize of a flow field (pixel centres aligned, edge border), vectors scaled with the
// size.
inline void resize_flow(const ImageView<const float>& src, const ImageView<float>& dst, std::size_t workers = 1) {
    if (src.channels != 2 || dst.channels != 2 || src.height < 1 || src.width < 1)
        throw std::invalid_argument("resize_flow: flows must be (H, W, 2)");
    const float ratio_x = static_cast<float>(src.width) / static_cast<float>(dst.width);
    const float ratio_y = static_cast<float>(src.height) / static_cast<float>(dst.height);
    const float scale_u = static_cast<float>(dst.width) / static_cast<float>(src.width);
    const float scale_v = static_cast<float>(dst.height) / static_cast<float>(src.height);
    // source position of output pixel centre i (pixel centres aligned), clamped into the source
    auto locate = [](std::ptrdiff_t i, float ratio, std::ptrdiff_t size) {
        return detail::ClampedTaps((static_cast<float>(i) + 0.5f) * ratio - 0.5f, size);
    };
    // the taps as offsets from a row's start, and each output float's scale (u, v alternating)
    std::vector<std::ptrdiff_t> x0(dst.width), x1(dst.width);
    std::vector<float> fx(dst.width), scales(2 * dst.width);
    for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
        const auto taps = locate(x, ratio_x, src.width);
        x0[x] = taps.i0 * src.stride_x;
        x1[x] = taps.i1 * src.stride_x;
        fx[x] = taps.t;
        scales[2 * x] = scale_u;
        scales[2 * x + 1] = scale_v;
    }
    // Rows of the source interpolated along x once each (upsampling reuses them for several
    // output rows), then blended along y by a loop that vectorises; the arithmetic is the
    // per-pixel bilinear formula's, x first.
    threading::parallel_for(0, dst.height, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<float> rows_x[2] = {std::vector<float>(2 * dst.width), std::vector<float>(2 * dst.width)};
        std::ptrdiff_t held[2] = {-1, -1};
        auto along_x = [&](std::ptrdiff_t source_row) -> const float* {
            for (int slot = 0; slot < 2; ++slot)
                if (held[slot] == source_row) return rows_x[slot].data();
            // output rows go down, so the held row with the smaller index is no longer needed
            const int slot = held[0] < held[1] ? 0 : 1;
            float* __restrict out = rows_x[slot].data();
            const float* __restrict row = src.pixel(source_row, 0);
            const std::ptrdiff_t second = src.stride_c;
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                out[2 * x] = detail::lerp(row[x0[x]], row[x1[x]], fx[x]);
                out[2 * x + 1] = detail::lerp(row[x0[x] + second], row[x1[x] + second], fx[x]);
            }
            held[slot] = source_row;
            return out;
        };
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const auto taps = locate(y, ratio_y, src.height);
            const float fy = taps.t;
            const float* __restrict top = along_x(taps.i0);
            const float* __restrict bottom = along_x(taps.i1);
            if (dst.stride_x == 2 && dst.stride_c == 1) {  // a packed flow: blended and scaled in one flat loop
                float* __restrict o = dst.pixel(y, 0);
                const float* __restrict scale = scales.data();
                for (std::ptrdiff_t k = 0; k < 2 * dst.width; ++k) o[k] = detail::lerp(top[k], bottom[k], fy) * scale[k];
                continue;
            }
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                float* o = dst.pixel(y, x);
                o[0] = detail::lerp(top[2 * x], bottom[2 * x], fy) * scale_u;
                o[dst.stride_c] = detail::lerp(top[2 * x + 1], bottom[2 * x + 1], fy) * scale_v;
            }
        }
    });
}

}  // namespace framefix
