#pragma once
// Dense optical flow of the Dense Inverse Search class (Kroeger et al., ECCV 2016): flow_from_luma
// (below) runs these parts coarse to fine over the pyramid; python/framefix/flow.py
// (estimate_flow) checks the arguments and runs it on the frames' flow_luma planes:
//   pyramid.hpp       flow_luma (the input plane), halve_plane (the next level), resize_flow
//                     (a flow carried to the next finer level);
//   patch_search.hpp  patch_flow_level: patches aligned by inverse-compositional Gauss-Newton
//                     after zero-mean, unit-variance normalisation, offered their neighbours'
//                     flows (spatial propagation), blended into a dense field;
//   flow_refine.hpp   refine_flow_level: variational refinement (Brox et al. 2004) on locally
//                     normalised images;
//   consistency.hpp   consistency_ratio: the forward-backward check of two flows (and, with
//                     fill_occlusions, of the estimate against the backward one: see below).
// Their Numba twins (python/framefix/_numba/flow.py) follow the same steps in the same order, so
// both backends agree bit for bit. What is measured along a flow is in temporal.hpp.

#include "consistency.hpp"
#include "flow_refine.hpp"
#include "patch_search.hpp"
#include "pyramid.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace framefix {

struct FlowSettings {
    PatchSearch search;
    Refinement refinement;           // refinement.fixed_point == 0: no variational refinement
    std::ptrdiff_t finest_level = 0; // 0 solves at full resolution, 1 at half (then upsampled), ...
    // Levels refined, counted up from the finest solved one (0: every level). On the coarsest
    // levels of a fast preset the refinement's smoothness, with few iterations to undo it, drags
    // a small object's patch flow towards its surroundings before propagation at the finer levels
    // can spread it; refining only the last levels keeps it.
    std::ptrdiff_t refine_levels = 0;
    // Fixed-point iterations (refinement.sor sweeps each) of a last refinement at full
    // resolution, on the flow upsampled from finest_level > 0 (0: none). Upsampling blurs the
    // flow across depth edges by a coarse pixel; one cheap pass on the full-resolution images
    // puts the edges back where the image has them.
    std::ptrdiff_t full_refine_iterations = 0;
    // Also estimate the backward flow (same settings) and replace the forward flow where the two
    // disagree and next to where they mismatch (detail::fill_from_consistent). Pixels covered in
    // the other frame have no match, so the patches and the refinement give them their
    // neighbours' flow, often the occluder's; the check finds them, and the fill gives them the
    // flow of the nearest trusted pixel, left, right, above or below, on the side they look like,
    // then the median of the filled flow around them.
    bool fill_occlusions = false;
    // Passes of a 3 x 3 binomial blur (Refinement::presmooth) of the planes the refinement works
    // on at full resolution (0: none; 2: a Gaussian of sigma 1 px). There a GIF's palette
    // dithering, or sensor noise, is texture that does not move with the picture, and flat areas
    // got a flow of noise. The patches still match the sharp planes, and the coarser levels are
    // already averaged by the pyramid.
    std::ptrdiff_t presmooth = 0;
};

namespace detail {

// Pixels whose forward-backward check failed, and those near a forward-backward mismatch, take
// the flow of one of the nearest trusted pixels of their row or column (left, right, above,
// below): the one whose side looks more like them.
//   - Untrusted: a ratio (consistency_ratio) not below 1, or a finite ratio not below 1 within
//     kFillMargin pixels (Chebyshev). Next to an occlusion both flows smear the occluder's motion
//     over the covered background the same way, so the pixels there pass the check with the
//     wrong flow and, kept as sources, handed it on to the whole occluded region. Out-of-frame
//     landings and motion-boundary flags (an infinite ratio) widen nothing: in a smooth but
//     steep flow (a swirl) they mark no layer edge, and a wider copied patch only costs accuracy.
//   - A side's look: the mean luma of the kFillDepth pixels from the candidate outwards (clamped
//     to the frame), not the candidate alone: the first trusted pixel past an object's soft edge
//     is often a blend of both layers, and one pixel of a low-texture background is a noisy cue.
//   - Cost: |that mean - the pixel's luma| + distance / 1530 (one 8-bit level per 6 pixels);
//     the lowest wins, ties in the order left, right, above, below.
// An occluded pixel belongs to the background, which it resembles more than the foreground.
// Trusted pixels are never written, so the fill runs in place; a pixel with no trusted pixel in
// its row and column keeps its flow.
// Then every filled pixel takes, component by component, the median over kFillMedianSide rows
// of the filled flow's medians over kFillMedianSide columns (a separable stand-in for the
// median of the square window, clamped to the frame; `row_medians` is an h x w scratch plane).
// The side is chosen pixel by pixel: where most of an area is untrusted (a generated clip's flat
// sky) the choice alternated along rows and columns and drew streaks, and the window's majority
// is the motion of the surface around the pixel (development set: mean EPE 0.68 -> 0.58 px,
// occluded pixels 8.6 -> 6.6 px).
constexpr std::ptrdiff_t kFillMargin = 5;
constexpr std::ptrdiff_t kFillDepth = 16;
constexpr std::ptrdiff_t kFillMedianSide = 17;

inline void fill_from_consistent(const PlaneView<const float>& luma, const PlaneView<const float>& ratio,
                                 const ImageView<float>& flow, float* row_medians, std::size_t workers) {
    const std::ptrdiff_t h = flow.height, w = flow.width;
    const float per_pixel = 1.0f / 1530.0f;
    auto at = [](std::ptrdiff_t y, std::ptrdiff_t x, std::ptrdiff_t width) {
        return static_cast<std::size_t>(y * width + x);
    };
    // near_seed: a mismatch within kFillMargin in the row; trusted: none within it in 2D either
    std::vector<unsigned char> near_seed(static_cast<std::size_t>(h * w)), trusted(near_seed.size()),
        filled(near_seed.size(), 0);
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const float* q = ratio.row(y);
            std::ptrdiff_t last = -kFillMargin - 1;  // the last seed at or before x
            for (std::ptrdiff_t x = 0; x < w + kFillMargin; ++x) {
                if (x < w) {
                    const float v = q[x * ratio.stride_x];
                    if (v >= 1.0f && std::isfinite(v)) last = x;
                }
                const std::ptrdiff_t target = x - kFillMargin;
                if (target >= 0) near_seed[at(y, target, w)] = x - last <= 2 * kFillMargin;
            }
        }
    });
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const float* q = ratio.row(y);
            const std::ptrdiff_t y0 = std::max<std::ptrdiff_t>(y - kFillMargin, 0);
            const std::ptrdiff_t y1 = std::min<std::ptrdiff_t>(y + kFillMargin, h - 1);
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                bool ok = q[x * ratio.stride_x] < 1.0f;
                for (std::ptrdiff_t yy = y0; ok && yy <= y1; ++yy) ok = !near_seed[at(yy, x, w)];
                trusted[at(y, x, w)] = ok;
            }
        }
    });
    // the nearest trusted row at or above / at or below each pixel (-1: none)
    std::vector<std::ptrdiff_t> above(near_seed.size()), below(near_seed.size());
    threading::parallel_for(0, w, workers, [&](std::ptrdiff_t c0, std::ptrdiff_t c1) {
        for (std::ptrdiff_t x = c0; x < c1; ++x) {
            std::ptrdiff_t last = -1;
            for (std::ptrdiff_t y = 0; y < h; ++y) {
                if (trusted[at(y, x, w)]) last = y;
                above[at(y, x, w)] = last;
            }
            last = -1;
            for (std::ptrdiff_t y = h - 1; y >= 0; --y) {
                if (trusted[at(y, x, w)]) last = y;
                below[at(y, x, w)] = last;
            }
        }
    });
    auto lum = [&](std::ptrdiff_t y, std::ptrdiff_t x) { return luma.row(y)[x * luma.stride_x]; };
    // the mean luma of kFillDepth pixels from (y, x) in direction (dy, dx), clamped to the frame
    auto side = [&](std::ptrdiff_t y, std::ptrdiff_t x, std::ptrdiff_t dy, std::ptrdiff_t dx) {
        float sum = 0.0f;
        for (std::ptrdiff_t k = 0; k < kFillDepth; ++k)
            sum += lum(std::clamp<std::ptrdiff_t>(y + k * dy, 0, h - 1), std::clamp<std::ptrdiff_t>(x + k * dx, 0, w - 1));
        return sum / static_cast<float>(kFillDepth);
    };
    threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
        std::vector<std::ptrdiff_t> left(static_cast<std::size_t>(w));
        for (std::ptrdiff_t y = r0; y < r1; ++y) {
            const unsigned char* ok = trusted.data() + at(y, 0, w);
            std::ptrdiff_t last = -1;
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                if (ok[x]) last = x;
                left[x] = last;
            }
            std::ptrdiff_t right = -1;  // the nearest trusted pixel at x or after it
            for (std::ptrdiff_t x = w - 1; x >= 0; --x) {
                if (ok[x]) {
                    right = x;
                    continue;
                }
                const float here = lum(y, x);
                float best = 0.0f;
                std::ptrdiff_t from_y = -1, from_x = -1;
                auto offer = [&](std::ptrdiff_t sy, std::ptrdiff_t sx, std::ptrdiff_t dy, std::ptrdiff_t dx,
                                 std::ptrdiff_t distance) {
                    const float cost =
                        std::fabs(side(sy, sx, dy, dx) - here) + static_cast<float>(distance) * per_pixel;
                    if (from_y < 0 || cost < best) {
                        best = cost;
                        from_y = sy;
                        from_x = sx;
                    }
                };
                if (left[x] >= 0) offer(y, left[x], 0, -1, x - left[x]);
                if (right >= 0) offer(y, right, 0, 1, right - x);
                const std::ptrdiff_t up = above[at(y, x, w)], down = below[at(y, x, w)];
                if (up >= 0) offer(up, x, -1, 0, y - up);
                if (down >= 0) offer(down, x, 1, 0, down - y);
                if (from_y < 0) continue;
                const float* source = flow.pixel(from_y, from_x);
                float* target = flow.pixel(y, x);
                target[0] = source[0];
                target[flow.stride_c] = source[flow.stride_c];
                filled[at(y, x, w)] = 1;
            }
        }
    });
    // needed: a filled pixel within `reach` rows in the same column, whose median reads this row's
    constexpr std::ptrdiff_t reach = kFillMedianSide / 2;
    std::vector<unsigned char> needed(near_seed.size(), 0);
    threading::parallel_for(0, w, workers, [&](std::ptrdiff_t c0, std::ptrdiff_t c1) {
        for (std::ptrdiff_t x = c0; x < c1; ++x) {
            std::ptrdiff_t last = -reach - 1;  // the last filled row at or above y
            for (std::ptrdiff_t y = 0; y < h; ++y) {
                if (filled[at(y, x, w)]) last = y;
                needed[at(y, x, w)] = y - last <= reach;
            }
            last = h + reach;  // the first filled row at or below y
            for (std::ptrdiff_t y = h - 1; y >= 0; --y) {
                if (filled[at(y, x, w)]) last = y;
                if (last - y <= reach) needed[at(y, x, w)] = 1;
            }
        }
    });
    // the median of medians, one component at a time: along the row into `row_medians`, then
    // along the column back into the flow, where only filled pixels are written
    // (+ 0: a median of -0 and 0 is 0 whichever of the two the selection returns)
    auto medians = [&](const std::vector<unsigned char>& where, auto&& sample, auto&& store) {
        threading::parallel_for(0, h, workers, [&](std::ptrdiff_t r0, std::ptrdiff_t r1) {
            std::vector<float> window(static_cast<std::size_t>(kFillMedianSide));
            for (std::ptrdiff_t y = r0; y < r1; ++y)
                for (std::ptrdiff_t x = 0; x < w; ++x) {
                    if (!where[at(y, x, w)]) continue;
                    for (std::ptrdiff_t d = -reach; d <= reach; ++d)
                        window[static_cast<std::size_t>(d + reach)] = sample(y, x, d);
                    std::nth_element(window.begin(), window.begin() + reach, window.end());
                    store(y, x, window[static_cast<std::size_t>(reach)] + 0.0f);
                }
        });
    };
    for (std::ptrdiff_t component = 0; component < 2; ++component) {
        const std::ptrdiff_t channel = component * flow.stride_c;
        medians(
            needed,
            [&](std::ptrdiff_t y, std::ptrdiff_t x, std::ptrdiff_t d) {
                return flow.pixel(y, std::clamp<std::ptrdiff_t>(x + d, 0, w - 1))[channel];
            },
            [&](std::ptrdiff_t y, std::ptrdiff_t x, float value) { row_medians[at(y, x, w)] = value; });
        medians(
            filled,
            [&](std::ptrdiff_t y, std::ptrdiff_t x, std::ptrdiff_t d) {
                return row_medians[at(std::clamp<std::ptrdiff_t>(y + d, 0, h - 1), x, w)];
            },
            [&](std::ptrdiff_t y, std::ptrdiff_t x, float value) { flow.pixel(y, x)[channel] = value; });
    }
}

// The pyramid's sizes for a flow of h x w: levels halve while the coarser plane is still two
// patches across, so large motions are found at depth.
inline std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> pyramid_sizes(std::ptrdiff_t h, std::ptrdiff_t w,
                                                                          std::ptrdiff_t patch) {
    std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>> sizes{{h, w}};  // height, width of each level
    while (std::min(sizes.back().first, sizes.back().second) / 2 >= 2 * patch)
        sizes.emplace_back(sizes.back().first / 2, sizes.back().second / 2);
    return sizes;
}

// One direction of the estimator (flow_from_luma without the occlusion fill), from the planes of
// pyramid level `base` (0: full resolution; 1 when no step needs level 0: a finest level of 1 or
// coarser, no refinement at full resolution) into the full-size `flow`. The levels above the
// base and two flow buffers of the finest solved level's size (the flow and the one it is
// resized into) share one workspace.
inline void flow_one_way(const PlaneView<const float>& base0, const PlaneView<const float>& base1, std::size_t base,
                         const ImageView<const float>* init, const FlowSettings& settings, const ImageView<float>& flow,
                         std::size_t workers) {
    const std::ptrdiff_t h = flow.height, w = flow.width;
    const auto sizes = pyramid_sizes(h, w, settings.search.patch);
    const std::size_t top = sizes.size() - 1;
    const std::size_t finest = std::min(static_cast<std::size_t>(settings.finest_level), top);
    std::size_t level_floats = 0;
    for (std::size_t level = base + 1; level <= top; ++level)
        level_floats += static_cast<std::size_t>(sizes[level].first * sizes[level].second);
    const auto flow_floats = static_cast<std::size_t>(2 * sizes[finest].first * sizes[finest].second);
    const Workspace scratch(1, 2 * level_floats + 2 * flow_floats);
    std::vector<PlaneView<const float>> levels0(base + 1), levels1(base + 1);  // below the base: unused
    levels0[base] = base0;
    levels1[base] = base1;
    float* next = scratch.plane(0);
    for (std::size_t level = base + 1; level <= top; ++level)
        for (auto* levels : {&levels0, &levels1}) {
            const auto [height, width] = sizes[level];
            const PlaneView<float> half{next, height, width, width, 1};
            halve_plane(levels->back(), half, workers);
            levels->push_back(PlaneView<const float>{next, height, width, width, 1});
            next += height * width;
        }
    float* buffers[2] = {next, next + flow_floats};
    auto flow_view = [&](int buffer, std::size_t level) {
        const auto [height, width] = sizes[level];
        return ImageView<float>{buffers[buffer], height, width, 2, 2 * width, 2, 1};
    };
    auto read_view = [&](int buffer, std::size_t level) {
        const auto [height, width] = sizes[level];
        return ImageView<const float>{buffers[buffer], height, width, 2, 2 * width, 2, 1};
    };
    Refinement at_full = settings.refinement;  // the refinement at full resolution
    at_full.presmooth = settings.presmooth;
    int current = 0;
    if (init) {
        resize_flow(*init, flow_view(current, top), workers);
    } else {
        const auto [height, width] = sizes[top];
        std::fill(buffers[current], buffers[current] + 2 * height * width, 0.0f);
    }
    for (std::size_t level = top + 1; level-- > finest;) {
        if (level < top) {  // carried from the coarser level
            resize_flow(read_view(current, level + 1), flow_view(1 - current, level), workers);
            current = 1 - current;
        }
        const auto here = flow_view(current, level);
        patch_flow_level(levels0[level], levels1[level], here, settings.search, workers);
        const bool refined = settings.refine_levels == 0 ||
                             level < finest + static_cast<std::size_t>(settings.refine_levels);
        if (settings.refinement.fixed_point > 0 && refined)
            refine_flow_level(levels0[level], levels1[level], here, level == 0 ? at_full : settings.refinement,
                              workers);
    }
    if (finest == 0) {
        const float* source = buffers[current];
        for (std::ptrdiff_t y = 0; y < h; ++y)
            for (std::ptrdiff_t x = 0; x < w; ++x) {
                const float* s = source + 2 * (y * w + x);
                float* o = flow.pixel(y, x);
                o[0] = s[0];
                o[flow.stride_c] = s[1];
            }
    } else {
        resize_flow(read_view(current, finest), flow, workers);
        if (settings.full_refine_iterations > 0) {
            Refinement last = at_full;
            last.fixed_point = settings.full_refine_iterations;
            refine_flow_level(levels0[0], levels1[0], flow, last, workers);
        }
    }
}

inline void check_flow_arguments(const char* func, std::ptrdiff_t h, std::ptrdiff_t w, const FlowSettings& settings,
                                 const ImageView<float>& flow) {
    const std::ptrdiff_t patch = settings.search.patch;
    if (!flow.same_size(h, w) || flow.channels != 2)
        throw std::invalid_argument(std::string(func) + ": the inputs and flow must have the same height and width");
    if (patch < 2 || h < patch || w < patch || settings.finest_level < 0 || settings.refine_levels < 0 ||
        settings.full_refine_iterations < 0 || settings.presmooth < 0)
        throw std::invalid_argument(std::string(func) + ": bad settings for this image size");
}

}  // namespace detail

// The estimator: flow (H, W, 2) from plane i0 to plane i1 (H, W), started from `init` (any
// (H', W', 2) flow, resized to the coarsest level) or from zero, coarse to fine over the
// pyramid of detail::pyramid_sizes.
inline void flow_from_luma(const PlaneView<const float>& i0, const PlaneView<const float>& i1,
                           const ImageView<const float>* init, const FlowSettings& settings,
                           const ImageView<float>& flow, std::size_t workers = 1) {
    const std::ptrdiff_t h = i0.height, w = i0.width;
    if (!i1.same_size(h, w))
        throw std::invalid_argument("flow_from_luma: i0, i1 and flow must have the same height and width");
    detail::check_flow_arguments("flow_from_luma", h, w, settings, flow);
    if (!settings.fill_occlusions) {
        detail::flow_one_way(i0, i1, 0, init, settings, flow, workers);
        return;
    }
    // The backward flow's and the ratio's workspace is taken before either flow runs, so that the
    // backward flow reuses the blocks the forward one released (taken after, it held one of
    // them and the backward refinement needed a new one: 85 MB faulted in every 720p pair).
    const detail::Workspace scratch(3, static_cast<std::size_t>(h * w));
    float* backward = scratch.plane(0);
    float* ratio = scratch.plane(2);
    detail::flow_one_way(i0, i1, 0, init, settings, flow, workers);
    detail::flow_one_way(i1, i0, 0, nullptr, settings, ImageView<float>{backward, h, w, 2, 2 * w, 2, 1}, workers);
    const ImageView<const float> forward{flow.data, h, w, 2, flow.stride_y, flow.stride_x, flow.stride_c};
    // the tolerances of flow_consistency's defaults; motion boundaries count as inconsistent
    consistency_ratio(forward, ImageView<const float>{backward, h, w, 2, 2 * w, 2, 1},
                      PlaneView<float>{ratio, h, w, w, 1}, 0.01f, 0.5f, true, workers);
    // the backward flow's plane, no longer needed, holds the fill's row medians
    detail::fill_from_consistent(i0, PlaneView<const float>{ratio, h, w, w, 1}, flow, backward, workers);
}

// The estimator on two frames of the same size (any pixel type and channel count flow_luma
// takes): flow_from_luma on their flow_luma planes, with the same bits. The planes stay in a
// workspace that later pairs on the thread reuse. When nothing reads full resolution (finest
// level 1 or coarser, no refinement or occlusion fill there), the planes are made already
// halved (flow_luma_halved): the full-size ones would only be read once, to be halved.
template <class T>
void flow_from_frames(const ImageView<const T>& frame0, const ImageView<const T>& frame1,
                      const ImageView<const float>* init, const FlowSettings& settings, const ImageView<float>& flow,
                      std::size_t workers = 1) {
    const std::ptrdiff_t h = frame0.height, w = frame0.width;
    if (!frame1.same_size(h, w) || frame1.channels != frame0.channels)
        throw std::invalid_argument("flow_from_frames: frame0 and frame1 must have the same shape and dtype");
    detail::check_flow_arguments("flow_from_frames", h, w, settings, flow);
    const std::size_t top = detail::pyramid_sizes(h, w, settings.search.patch).size() - 1;
    const bool from_half = top >= 1 && settings.finest_level >= 1 && settings.full_refine_iterations == 0 &&
                           !settings.fill_occlusions;
    if (from_half) {
        const std::ptrdiff_t hh = h / 2, hw = w / 2;
        const detail::Workspace scratch(2, static_cast<std::size_t>(hh * hw));
        const PlaneView<float> half0{scratch.plane(0), hh, hw, hw, 1}, half1{scratch.plane(1), hh, hw, hw, 1};
        flow_luma_halved<T>(frame0, half0, workers);
        flow_luma_halved<T>(frame1, half1, workers);
        detail::flow_one_way(PlaneView<const float>{half0.data, hh, hw, hw, 1},
                             PlaneView<const float>{half1.data, hh, hw, hw, 1}, 1, init, settings, flow, workers);
        return;
    }
    const detail::Workspace scratch(2, static_cast<std::size_t>(h * w));
    float* luma0 = scratch.plane(0);
    float* luma1 = scratch.plane(1);
    flow_luma<T>(frame0, PlaneView<float>{luma0, h, w, w, 1}, workers);
    flow_luma<T>(frame1, PlaneView<float>{luma1, h, w, w, 1}, workers);
    flow_from_luma(PlaneView<const float>{luma0, h, w, w, 1}, PlaneView<const float>{luma1, h, w, w, 1}, init, settings,
                   flow, workers);
}

}  // namespace framefix
