#pragma once
// Deflicker kernels: a frame shrunk by area averaging (what the temporal analysis looks at),
// per-channel tone curves (the global correction) and a smooth field of gains (the local
// correction). Every float is computed in the same order as the Numba twin
// (python/framefix/_numba/deflicker.py), so both backends agree bit for bit.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "image_view.hpp"
#include "parallel.hpp"
#include "pixel_traits.hpp"
#include "sampling.hpp"

namespace framefix {

// Pixels packed along the row, channels adjacent: rows can be walked as flat arrays.
template <class T>
bool interleaved(const ImageView<T>& view) noexcept {
    return view.stride_c == 1 && view.stride_x == view.channels;
}

// out[y, x, c] = mean of image's factor x factor block at (y, x), in 0..1 units (code value /
// maximum). Rows and columns beyond the last whole block are left out.
template <class T>
void shrink_area(const ImageView<const T>& image, std::ptrdiff_t factor, const ImageView<float>& out,
                 std::size_t workers = 1) {
    if (factor < 1) throw std::invalid_argument("shrink_area: factor must be >= 1");
    if (!out.same_size(image.height / factor, image.width / factor) || out.channels != image.channels)
        throw std::invalid_argument("shrink_area: out must be (H // factor, W // factor, C)");
    const float scale = 1.0f / (static_cast<float>(factor * factor) * pixel_traits<T>::max_value);
    const bool packed = interleaved(image);
    // Integer blocks whose sums stay below 2^24 add exactly in float in any order, so they are
    // summed as integers (columns first, vectorised), with the float path's result.
    if constexpr (pixel_traits<T>::is_integer) {
        if (packed && static_cast<double>(factor) * factor * pixel_traits<T>::max_value < 16777216.0) {
            threading::parallel_for(0, out.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
                const std::ptrdiff_t c = out.channels, span = out.width * factor * c;
                std::vector<std::uint32_t> columns(static_cast<std::size_t>(span));
                for (std::ptrdiff_t y = y0; y < y1; ++y) {
                    std::fill(columns.begin(), columns.end(), 0u);
                    for (std::ptrdiff_t dy = 0; dy < factor; ++dy) {
                        const T* row = image.pixel(y * factor + dy, 0);
                        for (std::ptrdiff_t i = 0; i < span; ++i) columns[static_cast<std::size_t>(i)] += row[i];
                    }
                    for (std::ptrdiff_t x = 0; x < out.width; ++x) {
                        const std::uint32_t* block = columns.data() + x * factor * c;
                        for (std::ptrdiff_t k = 0; k < c; ++k) {
                            std::uint32_t sum = 0;
                            for (std::ptrdiff_t dx = 0; dx < factor; ++dx) sum += block[dx * c + k];
                            out.pixel(y, x)[k * out.stride_c] = static_cast<float>(sum) * scale;
                        }
                    }
                }
            });
            return;
        }
    }
    threading::parallel_for(0, out.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        std::vector<float> sums(static_cast<std::size_t>(out.width * out.channels));
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            std::fill(sums.begin(), sums.end(), 0.0f);
            for (std::ptrdiff_t dy = 0; dy < factor; ++dy) {
                if (packed) {  // same sums in the same order, without per-pixel stride arithmetic
                    const T* row = image.pixel(y * factor + dy, 0);
                    const std::ptrdiff_t c = out.channels;
                    for (std::ptrdiff_t x = 0; x < out.width; ++x) {
                        float* sum = sums.data() + x * c;
                        const T* p = row + x * factor * c;
                        for (std::ptrdiff_t dx = 0; dx < factor; ++dx, p += c)
                            for (std::ptrdiff_t k = 0; k < c; ++k) sum[k] += static_cast<float>(p[k]);
                    }
                    continue;
                }
                for (std::ptrdiff_t x = 0; x < out.width; ++x) {
                    for (std::ptrdiff_t dx = 0; dx < factor; ++dx) {
                        const T* p = image.pixel(y * factor + dy, x * factor + dx);
                        for (std::ptrdiff_t c = 0; c < out.channels; ++c)
                            sums[static_cast<std::size_t>(x * out.channels + c)] += static_cast<float>(p[c * image.stride_c]);
                    }
                }
            }
            for (std::ptrdiff_t x = 0; x < out.width; ++x)
                for (std::ptrdiff_t c = 0; c < out.channels; ++c)
                    out.pixel(y, x)[c * out.stride_c] = sums[static_cast<std::size_t>(x * out.channels + c)] * scale;
        }
    });
}

// A monotone tone curve through `count` knots (xs strictly increasing, xs[count - 1] > 0), in
// 0..1 units: linear between knots; below the first knot a gain through black (v * y0 / x0);
// above the last the gain of the last knot carries on (y + (v - x) * y / x), as an exposure
// change would.
inline float tone_curve(float v, const float* xs, const float* ys, std::ptrdiff_t count) noexcept {
    const std::ptrdiff_t last = count - 1;
    if (v <= xs[0]) return xs[0] > 0.0f ? v * (ys[0] / xs[0]) : ys[0];
    if (v >= xs[last]) return ys[last] + (v - xs[last]) * (ys[last] / xs[last]);
    std::ptrdiff_t lo = 0, hi = last;
    while (hi - lo > 1) {
        const std::ptrdiff_t mid = (lo + hi) / 2;
        if (xs[mid] <= v) lo = mid;
        else hi = mid;
    }
    const float t = (v - xs[lo]) / (xs[hi] - xs[lo]);
    return ys[lo] + t * (ys[hi] - ys[lo]);
}

inline void check_knots(const float* xs, std::ptrdiff_t curves, std::ptrdiff_t count) {
    if (count < 2) throw std::invalid_argument("apply_tone_curves: curves need at least 2 knots");
    for (std::ptrdiff_t c = 0; c < curves; ++c) {
        const float* x = xs + c * count;
        for (std::ptrdiff_t k = 1; k < count; ++k)
            if (!(x[k] > x[k - 1])) throw std::invalid_argument("apply_tone_curves: knot positions must increase");
        if (!(x[count - 1] > 0.0f)) throw std::invalid_argument("apply_tone_curves: the last knot must be above 0");
    }
}

// out[..., c] = curve_c(image[..., c]) for the first `curves` channels (the rest, an alpha,
// copied). knots_x and knots_y are (curves, count), row-major, in 0..1 units. Integer pixels go
// through a table of every code value, rounded to nearest and saturated.
template <class T>
void apply_tone_curves(const ImageView<const T>& image, const float* knots_x, const float* knots_y,
                       std::ptrdiff_t curves, std::ptrdiff_t count, const ImageView<T>& out, std::size_t workers = 1) {
    if (!out.same_size(image.height, image.width) || out.channels != image.channels)
        throw std::invalid_argument("apply_tone_curves: out must have the image's shape");
    if (curves < 1 || curves > image.channels)
        throw std::invalid_argument("apply_tone_curves: one curve per colour channel needed");
    check_knots(knots_x, curves, count);
    using traits = pixel_traits<T>;
    std::vector<T> table;
    std::ptrdiff_t bins = 0;
    if constexpr (traits::is_integer) {
        bins = static_cast<std::ptrdiff_t>(traits::max_value) + 1;
        table.resize(static_cast<std::size_t>(curves * bins));
        threading::parallel_for(0, curves * bins, workers, [&](std::ptrdiff_t i0, std::ptrdiff_t i1) {
            for (std::ptrdiff_t i = i0; i < i1; ++i) {
                const std::ptrdiff_t c = i / bins;
                const float v = static_cast<float>(i % bins) / traits::max_value;
                table[static_cast<std::size_t>(i)] =
                    traits::from_work(tone_curve(v, knots_x + c * count, knots_y + c * count, count) * traits::max_value);
            }
        }, 4096);
    }
    if constexpr (traits::is_integer) {
        // Packed RGB rows (what every decoded frame is): one table per channel in step, no
        // per-pixel stride arithmetic; three times faster than the general loop below.
        if (curves == 3 && image.channels == 3 && interleaved(image) && interleaved(out)) {
            const T* t0 = table.data();
            const T* t1 = t0 + bins;
            const T* t2 = t1 + bins;
            threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
                for (std::ptrdiff_t y = y0; y < y1; ++y) {
                    const T* p = image.pixel(y, 0);
                    T* o = out.pixel(y, 0);
                    for (std::ptrdiff_t i = 0; i < 3 * image.width; i += 3) {
                        o[i] = t0[p[i]];
                        o[i + 1] = t1[p[i + 1]];
                        o[i + 2] = t2[p[i + 2]];
                    }
                }
            });
            return;
        }
    }
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const T* p = image.pixel(y, x);
                T* o = out.pixel(y, x);
                for (std::ptrdiff_t c = 0; c < image.channels; ++c) {
                    const T v = p[c * image.stride_c];
                    if (c >= curves) {
                        o[c * out.stride_c] = v;
                    } else if constexpr (traits::is_integer) {
                        o[c * out.stride_c] = table[static_cast<std::size_t>(c * bins + v)];
                    } else {
                        o[c * out.stride_c] = tone_curve(v, knots_x + c * count, knots_y + c * count, count);
                    }
                }
            }
        }
    });
}

// out = image x gain, the gain bilinearly interpolated from a coarse grid (grid_h, grid_w,
// gain_channels) whose cells evenly tile the frame (values at the cell centres, held constant
// beyond the outer centres). gain_channels is 1 (one gain for every colour channel) or the
// number of colour channels `colours`; channels from `colours` on (an alpha) are copied.
template <class T>
void apply_gain_field(const ImageView<const T>& image, const float* gains, std::ptrdiff_t grid_h, std::ptrdiff_t grid_w,
                      std::ptrdiff_t gain_channels, std::ptrdiff_t colours, const ImageView<T>& out,
                      std::size_t workers = 1) {
    if (!out.same_size(image.height, image.width) || out.channels != image.channels)
        throw std::invalid_argument("apply_gain_field: out must have the image's shape");
    if (grid_h < 1 || grid_w < 1) throw std::invalid_argument("apply_gain_field: the grid needs a cell");
    if (colours < 1 || colours > image.channels || (gain_channels != 1 && gain_channels != colours))
        throw std::invalid_argument("apply_gain_field: gains must have 1 or one channel per colour");
    using traits = pixel_traits<T>;
    // grid coordinate of pixel centre i: (i + 0.5) * cells / size - 0.5, clamped to the outer centres
    auto axis = [](std::ptrdiff_t size, std::ptrdiff_t cells, std::vector<std::ptrdiff_t>& index, std::vector<float>& weight) {
        index.resize(static_cast<std::size_t>(size));
        weight.resize(static_cast<std::size_t>(size));
        for (std::ptrdiff_t i = 0; i < size; ++i) {
            float g = (static_cast<float>(i) + 0.5f) * static_cast<float>(cells) / static_cast<float>(size) - 0.5f;
            g = std::min(std::max(g, 0.0f), static_cast<float>(cells - 1));
            std::ptrdiff_t j = static_cast<std::ptrdiff_t>(g);
            if (j > cells - 2) j = std::max<std::ptrdiff_t>(cells - 2, 0);
            index[static_cast<std::size_t>(i)] = j;
            weight[static_cast<std::size_t>(i)] = cells > 1 ? g - static_cast<float>(j) : 0.0f;
        }
    };
    std::vector<std::ptrdiff_t> row_index, column_index;
    std::vector<float> row_weight, column_weight;
    axis(image.height, grid_h, row_index, row_weight);
    axis(image.width, grid_w, column_index, column_weight);
    const std::ptrdiff_t step_x = grid_w > 1 ? gain_channels : 0;
    const std::ptrdiff_t step_y = grid_h > 1 ? grid_w * gain_channels : 0;
    threading::parallel_for(0, image.height, workers, [&](std::ptrdiff_t y0, std::ptrdiff_t y1) {
        for (std::ptrdiff_t y = y0; y < y1; ++y) {
            const float wy = row_weight[static_cast<std::size_t>(y)];
            const float* top = gains + row_index[static_cast<std::size_t>(y)] * grid_w * gain_channels;
            for (std::ptrdiff_t x = 0; x < image.width; ++x) {
                const float wx = column_weight[static_cast<std::size_t>(x)];
                const float* g00 = top + column_index[static_cast<std::size_t>(x)] * gain_channels;
                const T* p = image.pixel(y, x);
                T* o = out.pixel(y, x);
                for (std::ptrdiff_t c = 0; c < image.channels; ++c) {
                    if (c >= colours) {
                        o[c * out.stride_c] = p[c * image.stride_c];
                        continue;
                    }
                    const std::ptrdiff_t k = gain_channels == 1 ? 0 : c;
                    const float gain = detail::bilinear(g00[k], g00[k + step_x], g00[k + step_y],
                                                        g00[k + step_y + step_x], wx, wy);
                    o[c * out.stride_c] = traits::from_work(static_cast<float>(p[c * image.stride_c]) * gain);
                }
            }
        }
    });
}

}  // namespace framefix
