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

namespace framefix {

namespace detail {

// Row y of flow_luma into `out` (contiguous). Colour pixels packed in rows (the usual RGB or RGBA
// frame) are widened to float a row at a time into `widened` (channels x width floats), then
// weighed in one loop over contiguous floats, both of which vectorise; a quarter of the time of
// fetching every pixel through its strides. -ffp-contract=off keeps the products and sums as
// written, so every layout and the Numba twin give the same bits.
template <class T>
void luma_row(const ImageView<const T>& image, std::ptrdiff_t y, bool packed, float* __restrict widened,
              float* __restrict out) {
    const float scale = 1.0f / pixel_traits<T>::max_value;
    constexpr float weights[3] = {0.2126f, 0.7152f, 0.0722f};
    const std::ptrdiff_t channels = image.channels, width = image.width;
    if (packed) {
        const T* __restrict p = image.pixel(y, 0);
        for (std::ptrdiff_t i = 0; i < channels * width; ++i) widened[i] = static_cast<float>(p[i]);
        const float* __restrict f = widened;
        auto weigh = [&](auto step) {  // a step known at compile time (RGB) vectorises best
            for (std::ptrdiff_t x = 0; x < width; ++x)
                out[x] = (weights[0] * f[step * x] + weights[1] * f[step * x + 1] + weights[2] * f[step * x + 2]) * scale;
        };
        if (channels == 3)
            weigh(std::integral_constant<std::ptrdiff_t, 3>{});
        else
            weigh(channels);
        return;
    }
    for (std::ptrdiff_t x = 0; x < width; ++x) {
        const T* p = image.pixel(y, x);
        float value;
        if (channels == 1)
            value = static_cast<float>(p[0]);
        else
            value = weights[0] * static_cast<float>(p[0]) + weights[1] * static_cast<float>(p[image.stride_c]) +
                    weights[2] * static_cast<float>(p[2 * image.stride_c]);
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
            for (std::ptrdiff_t x = 0; x < out.width; ++x)  // halve_plane's sum, in its order
                o[x * out.stride_x] = (a[2 * x] + b[2 * x] + a[2 * x + 1] + b[2 * x + 1]) * 0.25f;
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
                o[x * dst.stride_x] = (a[left] + b[left] + a[right] + b[right]) * 0.25f;
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
    std::vector<std::ptrdiff_t> x0(dst.width), x1(dst.width);
    std::vector<float> fx(dst.width);
    for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
        const auto taps = locate(x, ratio_x, src.width);
        x0[x] = taps.i0;
        x1[x] = taps.i1;
        fx[x] = taps.t;
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
            float* out = rows_x[slot].data();
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                const float* a = src.pixel(source_row, x0[x]);
                const float* b = src.pixel(source_row, x1[x]);
                out[2 * x] = detail::lerp(a[0], b[0], fx[x]);
                out[2 * x + 1] = detail::lerp(a[src.stride_c], b[src.stride_c], fx[x]);
            }
            held[slot] = source_row;
            return out;
        };
        std::vector<float> blended(2 * dst.width);
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const auto taps = locate(y, ratio_y, src.height);
            const float fy = taps.t;
            const float* __restrict top = along_x(taps.i0);
            const float* __restrict bottom = along_x(taps.i1);
            float* __restrict out = blended.data();
            for (std::ptrdiff_t q = 0; q < 2 * dst.width; ++q) out[q] = detail::lerp(top[q], bottom[q], fy);
            if (dst.stride_x == 2 && dst.stride_c == 1) {  // a packed flow: scaled in one loop that vectorises
                float* __restrict o = dst.pixel(y, 0);
                for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                    o[2 * x] = out[2 * x] * scale_u;
                    o[2 * x + 1] = out[2 * x + 1] * scale_v;
                }
                continue;
            }
            for (std::ptrdiff_t x = 0; x < dst.width; ++x) {
                float* o = dst.pixel(y, x);
                o[0] = out[2 * x] * scale_u;
                o[dst.stride_c] = out[2 * x + 1] * scale_v;
            }
        }
    });
}

}  // namespace framefix
