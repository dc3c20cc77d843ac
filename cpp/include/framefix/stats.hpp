#pragma once
// Per-frame statistics in one pass: per-channel sums and sums of squares, a 256-bin luma
// histogram and per-channel sums on a coarse tile grid (regional flicker). Rows are split into
// the tile grid's bands, each summed on its own and the bands added in order, so the result does
// not depend on the number of workers and matches the Numba twin (python/framefix/_numba/stats.py).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"

namespace framefix {

constexpr std::ptrdiff_t kLumaBins = 256;

struct FrameSums {
    // integers add exactly in int64; float pixels in double
    std::vector<double> sum, sum_squares;   // per channel
    std::vector<std::int64_t> luma_histogram;  // kLumaBins
    std::vector<double> tile_sums;           // tiles_y * tiles_x * channels
    std::vector<std::int64_t> tile_counts;   // tiles_y * tiles_x
};

// Luma of a pixel as a bin: Rec. 709 weights on the code values (the channel itself for gray),
// scaled so the nominal range fills the 256 bins; out-of-range values go to the end bins.
template <class T>
inline std::ptrdiff_t luma_bin(const T* p, std::ptrdiff_t stride_c, std::ptrdiff_t channels) noexcept {
    const float luma = channels >= 3 ? (0.2126f * static_cast<float>(p[0]) + 0.7152f * static_cast<float>(p[stride_c])) +
                                           0.0722f * static_cast<float>(p[2 * stride_c])
                                     : static_cast<float>(p[0]);
    const float scaled = luma * (256.0f / (pixel_traits<T>::max_value + (pixel_traits<T>::is_integer ? 1.0f : 0.0f)));
    if (!(scaled >= 0.0f)) return 0;  // negative (float frames)
    return scaled >= 255.0f ? 255 : static_cast<std::ptrdiff_t>(scaled);
}

namespace detail {

// One band of rows: sums per channel, per tile, and the luma histogram (unless `histogram` is
// null). C > 0 fixes the channel
// count; a row's stretch inside one tile is summed in registers first (the order of additions,
// and so the float result, is the same for every C).
template <class T, class Acc, int C>
void band_sums(const ImageView<const T>& image, std::ptrdiff_t y_begin, std::ptrdiff_t y_end, std::ptrdiff_t tiles_x,
               Acc* sum, Acc* squares, Acc* tiles, std::int64_t* histogram, std::int64_t* counts) {
    const std::ptrdiff_t channels = C > 0 ? C : image.channels;
    constexpr int kMax = 4;
    for (std::ptrdiff_t y = y_begin; y < y_end; ++y) {
        for (std::ptrdiff_t tile = 0; tile < tiles_x; ++tile) {
            const std::ptrdiff_t x_begin = image.width * tile / tiles_x, x_end = image.width * (tile + 1) / tiles_x;
            Acc s[kMax] = {}, q[kMax] = {};
            for (std::ptrdiff_t x = x_begin; x < x_end; ++x) {
                const T* p = image.pixel(y, x);
                for (std::ptrdiff_t c = 0; c < channels; ++c) {
                    const Acc v = static_cast<Acc>(p[c * image.stride_c]);
                    s[c] += v;
                    q[c] += v * v;
                }
                if (histogram) ++histogram[luma_bin(p, image.stride_c, channels)];
            }
            for (std::ptrdiff_t c = 0; c < channels; ++c) {
                sum[c] += s[c];
                squares[c] += q[c];
                tiles[tile * channels + c] += s[c];
            }
            counts[tile] += x_end - x_begin;
        }
    }
}

// The same sums for packed integer rows (channels innermost, pixels adjacent), the common case
// of decoded video. Integer sums are exact in any order, so the stretch is summed as one flat
// run in narrow lanes the compiler vectorises (lane k takes channel k % C), and the luma bins are
// computed in a separate pass before the histogram's scattered increments.
template <class T, int C>
void packed_band_sums(const ImageView<const T>& image, std::ptrdiff_t y_begin, std::ptrdiff_t y_end,
                      std::ptrdiff_t tiles_x, std::int64_t* sum, std::int64_t* squares, std::int64_t* tiles,
                      std::int64_t* histogram, std::int64_t* counts) {
    static_assert(pixel_traits<T>::is_integer, "packed_band_sums: integer pixels only");
    // lanes narrow enough to vectorise, wide enough for a block of kBlock pixels without overflow
    using Lane = std::conditional_t<sizeof(T) == 1, std::uint32_t, std::uint64_t>;
    constexpr std::ptrdiff_t kLanes = 8 * C, kBlock = 4096;
    const float scale = 256.0f / (pixel_traits<T>::max_value + 1.0f);
    std::int32_t bins[kBlock];
    struct {
        float r[256], g[256], b[256];
    } weighted;
    if constexpr (sizeof(T) == 1)
        for (int v = 0; v < 256; ++v) {
            weighted.r[v] = 0.2126f * static_cast<float>(v);
            weighted.g[v] = 0.7152f * static_cast<float>(v);
            weighted.b[v] = 0.0722f * static_cast<float>(v);
        }
    std::int64_t spare[kLumaBins] = {};  // a second histogram, so runs of one bin do not serialise
    for (std::ptrdiff_t y = y_begin; y < y_end; ++y) {
        const T* row = image.pixel(y, 0);
        for (std::ptrdiff_t tile = 0; tile < tiles_x; ++tile) {
            const std::ptrdiff_t x_begin = image.width * tile / tiles_x, x_end = image.width * (tile + 1) / tiles_x;
            std::int64_t s[C] = {}, q[C] = {};
            for (std::ptrdiff_t x0 = x_begin; x0 < x_end; x0 += kBlock) {
                const std::ptrdiff_t n = std::min(kBlock, x_end - x0);
                const T* p = row + x0 * C;
                Lane lane_sum[kLanes] = {}, lane_squares[kLanes] = {};
                const std::ptrdiff_t whole = n * C / kLanes * kLanes;
                for (std::ptrdiff_t i = 0; i < whole; i += kLanes)
                    for (std::ptrdiff_t k = 0; k < kLanes; ++k) {
                        const Lane v = p[i + k];
                        lane_sum[k] += v;
                        lane_squares[k] += v * v;
                    }
                for (std::ptrdiff_t i = whole; i < n * C; ++i) {
                    const Lane v = p[i];
                    lane_sum[i % C] += v;
                    lane_squares[i % C] += v * v;
                }
                for (std::ptrdiff_t k = 0; k < kLanes; ++k) {
                    s[k % C] += static_cast<std::int64_t>(lane_sum[k]);
                    q[k % C] += static_cast<std::int64_t>(lane_squares[k]);
                }
                if (!histogram) continue;
                if constexpr (sizeof(T) == 1 && C >= 3) {
                    // the same float products, looked up: (r + g) + b, then the bin (scale is 1)
                    for (std::ptrdiff_t i = 0; i < n; ++i) {
                        const T* px = p + i * C;
                        const float luma = (weighted.r[px[0]] + weighted.g[px[1]]) + weighted.b[px[2]];
                        bins[i] = luma >= 255.0f ? 255 : static_cast<std::int32_t>(luma);
                    }
                } else {
                    for (std::ptrdiff_t i = 0; i < n; ++i) {
                        const T* px = p + i * C;
                        const float luma = C >= 3 ? (0.2126f * static_cast<float>(px[0]) + 0.7152f * static_cast<float>(px[1])) +
                                                        0.0722f * static_cast<float>(px[2])
                                                  : static_cast<float>(px[0]);
                        const float scaled = luma * scale;  // integers: never negative
                        bins[i] = scaled >= 255.0f ? 255 : static_cast<std::int32_t>(scaled);
                    }
                }
                std::ptrdiff_t i = 0;
                for (; i + 1 < n; i += 2) {
                    ++histogram[bins[i]];
                    ++spare[bins[i + 1]];
                }
                if (i < n) ++histogram[bins[i]];
            }
            for (std::ptrdiff_t c = 0; c < C; ++c) {
                sum[c] += s[c];
                squares[c] += q[c];
                tiles[tile * C + c] += s[c];
            }
            counts[tile] += x_end - x_begin;
        }
    }
    if (histogram)
        for (std::ptrdiff_t b = 0; b < kLumaBins; ++b) histogram[b] += spare[b];
}

}  // namespace detail

// luma_histogram = false leaves the histogram out (empty in the result): it is most of the cost.
template <class T>
FrameSums frame_sums(const ImageView<const T>& image, std::ptrdiff_t tiles_y, std::ptrdiff_t tiles_x,
                     bool luma_histogram = true, std::size_t workers = 1) {
    if (image.height <= 0 || image.width <= 0) throw std::invalid_argument("frame_sums: empty image");
    if (image.channels < 1 || image.channels > 4) throw std::invalid_argument("frame_sums: 1 to 4 channels");
    if (tiles_y < 1 || tiles_x < 1 || tiles_y > image.height || tiles_x > image.width)
        throw std::invalid_argument("frame_sums: the tile grid must have 1..height rows and 1..width columns");
    using Acc = std::conditional_t<pixel_traits<T>::is_integer, std::int64_t, double>;
    const std::ptrdiff_t channels = image.channels;
    struct Band {
        std::vector<Acc> sum, squares, tiles;
        std::vector<std::int64_t> histogram, counts;
    };
    std::vector<Band> bands(static_cast<std::size_t>(tiles_y));
    threading::parallel_for(0, tiles_y, workers, [&](std::ptrdiff_t b0, std::ptrdiff_t b1) {
        for (std::ptrdiff_t band = b0; band < b1; ++band) {
            Band& out = bands[static_cast<std::size_t>(band)];
            out.sum.assign(channels, 0);
            out.squares.assign(channels, 0);
            out.tiles.assign(tiles_x * channels, 0);
            out.histogram.assign(luma_histogram ? kLumaBins : 0, 0);
            out.counts.assign(tiles_x, 0);
            const std::ptrdiff_t y0 = image.height * band / tiles_y, y1 = image.height * (band + 1) / tiles_y;
            auto run = [&](auto channels_tag) {
                detail::band_sums<T, Acc, decltype(channels_tag)::value>(image, y0, y1, tiles_x, out.sum.data(),
                    out.squares.data(), out.tiles.data(), luma_histogram ? out.histogram.data() : nullptr,
                    out.counts.data());
            };
            auto packed = [&](auto channels_tag) {
                if constexpr (pixel_traits<T>::is_integer)
                    detail::packed_band_sums<T, decltype(channels_tag)::value>(image, y0, y1, tiles_x, out.sum.data(),
                        out.squares.data(), out.tiles.data(), luma_histogram ? out.histogram.data() : nullptr,
                        out.counts.data());
            };
            const bool is_packed = pixel_traits<T>::is_integer && image.stride_c == 1 && image.stride_x == channels;
            if (is_packed && channels == 3) packed(std::integral_constant<int, 3>{});
            else if (is_packed && channels == 1) packed(std::integral_constant<int, 1>{});
            else if (is_packed && channels == 4) packed(std::integral_constant<int, 4>{});
            else if (channels == 3) run(std::integral_constant<int, 3>{});
            else if (channels == 1) run(std::integral_constant<int, 1>{});
            else run(std::integral_constant<int, 0>{});
        }
    });
    FrameSums result;
    result.sum.assign(channels, 0.0);
    result.sum_squares.assign(channels, 0.0);
    result.luma_histogram.assign(luma_histogram ? kLumaBins : 0, 0);
    result.tile_sums.assign(tiles_y * tiles_x * channels, 0.0);
    result.tile_counts.assign(tiles_y * tiles_x, 0);
    std::vector<Acc> sum(channels, 0), squares(channels, 0);
    for (std::ptrdiff_t band = 0; band < tiles_y; ++band) {
        const Band& b = bands[static_cast<std::size_t>(band)];
        for (std::ptrdiff_t c = 0; c < channels; ++c) {
            sum[c] += b.sum[c];
            squares[c] += b.squares[c];
        }
        for (std::size_t i = 0; i < b.histogram.size(); ++i) result.luma_histogram[i] += b.histogram[i];
        for (std::ptrdiff_t i = 0; i < tiles_x * channels; ++i)
            result.tile_sums[band * tiles_x * channels + i] = static_cast<double>(b.tiles[i]);
        for (std::ptrdiff_t i = 0; i < tiles_x; ++i) result.tile_counts[band * tiles_x + i] = b.counts[i];
    }
    for (std::ptrdiff_t c = 0; c < channels; ++c) {
        result.sum[c] = static_cast<double>(sum[c]);
        result.sum_squares[c] = static_cast<double>(squares[c]);
    }
    return result;
}

}  // namespace framefix
