# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: language = c++
"""framefix's kernels as C functions that other Cython code cimports and Numba calls.

The functions are declared, with their conventions and status codes, in the public
``framefix/cython_kernels.pxd``; each forwards to a template of ``src/cython/c_abi.hpp``, which turns
raw pointers and strides into the kernels' views and failures into status codes. From Python, the
status codes are this module's ``FRAMEFIX_*`` integers (for Numba code, which cannot cimport them).
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t

cdef extern from "c_abi.hpp" namespace "framefix::c_abi" nogil:
    int warp[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*,
                Py_ssize_t, Py_ssize_t, Py_ssize_t, T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                uint8_t*, Py_ssize_t, Py_ssize_t, int, int, float, Py_ssize_t) noexcept
    int remap[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*,
                 Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, T*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                 Py_ssize_t, Py_ssize_t, uint8_t*, Py_ssize_t, Py_ssize_t, int, int, float, Py_ssize_t) noexcept
    int channel_histograms[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                              const uint8_t*, Py_ssize_t, Py_ssize_t, int64_t*, Py_ssize_t, Py_ssize_t) noexcept
    int apply_lut[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const T*,
                     Py_ssize_t, T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept
    int frame_sums[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                      Py_ssize_t, double*, double*, int64_t*, double*, int64_t*, Py_ssize_t) noexcept
    int apply_tone_curves[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                             const float*, const float*, Py_ssize_t, Py_ssize_t, T*, Py_ssize_t, Py_ssize_t,
                             Py_ssize_t, Py_ssize_t) noexcept
    int flow_luma[T](const T*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, float*,
                     Py_ssize_t, Py_ssize_t, Py_ssize_t) noexcept
    int c_flow_from_luma "framefix::c_abi::flow_from_luma"(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t,
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, float*, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, float, float, float, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, int, Py_ssize_t, float, Py_ssize_t, float, Py_ssize_t) noexcept


cdef int warp_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                 Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                 const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                 uint8_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                 Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                 uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                 int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return warp[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, flow, flow_stride_y,
                         flow_stride_x, flow_stride_c, out, out_height, out_width, out_stride_y, out_stride_x,
                         out_stride_c, mask, mask_stride_y, mask_stride_x, interpolation, border, cval, workers)


cdef int warp_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                  uint16_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return warp[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, flow, flow_stride_y,
                          flow_stride_x, flow_stride_c, out, out_height, out_width, out_stride_y, out_stride_x,
                          out_stride_c, mask, mask_stride_y, mask_stride_x, interpolation, border, cval, workers)


cdef int warp_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                  float* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return warp[float](image, height, width, channels, stride_y, stride_x, stride_c, flow, flow_stride_y, flow_stride_x,
                       flow_stride_c, out, out_height, out_width, out_stride_y, out_stride_x, out_stride_c, mask,
                       mask_stride_y, mask_stride_x, interpolation, border, cval, workers)


cdef int remap_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                  Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                  const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                  const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                  uint8_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                  Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                  uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                  int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return remap[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, map_x, map_x_stride_y,
                          map_x_stride_x, map_y, map_y_stride_y, map_y_stride_x, out, out_height, out_width,
                          out_stride_y, out_stride_x, out_stride_c, mask, mask_stride_y, mask_stride_x, interpolation,
                          border, cval, workers)


cdef int remap_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                   Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                   const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                   const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                   uint16_t* out, Py_ssize_t out_height, Py_ssize_t out_width,
                   Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                   uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                   int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return remap[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, map_x, map_x_stride_y,
                           map_x_stride_x, map_y, map_y_stride_y, map_y_stride_x, out, out_height, out_width,
                           out_stride_y, out_stride_x, out_stride_c, mask, mask_stride_y, mask_stride_x, interpolation,
                           border, cval, workers)


cdef int remap_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                   Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                   const float* map_x, Py_ssize_t map_x_stride_y, Py_ssize_t map_x_stride_x,
                   const float* map_y, Py_ssize_t map_y_stride_y, Py_ssize_t map_y_stride_x,
                   float* out, Py_ssize_t out_height, Py_ssize_t out_width,
                   Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                   uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                   int interpolation, int border, float cval, Py_ssize_t workers) noexcept nogil:
    return remap[float](image, height, width, channels, stride_y, stride_x, stride_c, map_x, map_x_stride_y,
                        map_x_stride_x, map_y, map_y_stride_y, map_y_stride_x, out, out_height, out_width, out_stride_y,
                        out_stride_x, out_stride_c, mask, mask_stride_y, mask_stride_x, interpolation, border, cval,
                        workers)


cdef int channel_histograms_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                               int64_t* counts, Py_ssize_t bins, Py_ssize_t workers) noexcept nogil:
    return channel_histograms[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, mask,
                                       mask_stride_y, mask_stride_x, counts, bins, workers)


cdef int channel_histograms_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                                Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                                const uint8_t* mask, Py_ssize_t mask_stride_y, Py_ssize_t mask_stride_x,
                                int64_t* counts, Py_ssize_t bins, Py_ssize_t workers) noexcept nogil:
    return channel_histograms[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, mask,
                                        mask_stride_y, mask_stride_x, counts, bins, workers)


cdef int apply_lut_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                      Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                      const uint8_t* lut, Py_ssize_t bins,
                      uint8_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                      Py_ssize_t workers) noexcept nogil:
    return apply_lut[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, lut, bins, out,
                              out_stride_y, out_stride_x, out_stride_c, workers)


cdef int apply_lut_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       const uint16_t* lut, Py_ssize_t bins,
                       uint16_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t out_stride_c,
                       Py_ssize_t workers) noexcept nogil:
    return apply_lut[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, lut, bins, out,
                               out_stride_y, out_stride_x, out_stride_c, workers)


cdef int frame_sums_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                       int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                       Py_ssize_t workers) noexcept nogil:
    return frame_sums[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, tiles_y, tiles_x, sum,
                               sum_squares, luma_histogram, tile_sums, tile_counts, workers)


cdef int frame_sums_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                        Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                        Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                        int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                        Py_ssize_t workers) noexcept nogil:
    return frame_sums[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, tiles_y, tiles_x, sum,
                                sum_squares, luma_histogram, tile_sums, tile_counts, workers)


cdef int frame_sums_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                        Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                        Py_ssize_t tiles_y, Py_ssize_t tiles_x, double* sum, double* sum_squares,
                        int64_t* luma_histogram, double* tile_sums, int64_t* tile_counts,
                        Py_ssize_t workers) noexcept nogil:
    return frame_sums[float](image, height, width, channels, stride_y, stride_x, stride_c, tiles_y, tiles_x, sum,
                             sum_squares, luma_histogram, tile_sums, tile_counts, workers)


cdef int apply_tone_curves_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                              Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                              const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                              uint8_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                              Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil:
    return apply_tone_curves[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, knots_x, knots_y,
                                      curves, knots, out, out_stride_y, out_stride_x, out_stride_c, workers)


cdef int apply_tone_curves_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                               uint16_t* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                               Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil:
    return apply_tone_curves[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, knots_x, knots_y,
                                       curves, knots, out, out_stride_y, out_stride_x, out_stride_c, workers)


cdef int apply_tone_curves_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                               Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                               const float* knots_x, const float* knots_y, Py_ssize_t curves, Py_ssize_t knots,
                               float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x,
                               Py_ssize_t out_stride_c, Py_ssize_t workers) noexcept nogil:
    return apply_tone_curves[float](image, height, width, channels, stride_y, stride_x, stride_c, knots_x, knots_y,
                                    curves, knots, out, out_stride_y, out_stride_x, out_stride_c, workers)


cdef int flow_luma_u8(const uint8_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                      Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                      float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil:
    return flow_luma[uint8_t](image, height, width, channels, stride_y, stride_x, stride_c, out, out_stride_y,
                              out_stride_x, workers)


cdef int flow_luma_u16(const uint16_t* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil:
    return flow_luma[uint16_t](image, height, width, channels, stride_y, stride_x, stride_c, out, out_stride_y,
                               out_stride_x, workers)


cdef int flow_luma_f32(const float* image, Py_ssize_t height, Py_ssize_t width, Py_ssize_t channels,
                       Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t stride_c,
                       float* out, Py_ssize_t out_stride_y, Py_ssize_t out_stride_x, Py_ssize_t workers) noexcept nogil:
    return flow_luma[float](image, height, width, channels, stride_y, stride_x, stride_c, out, out_stride_y,
                            out_stride_x, workers)


cdef int flow_from_luma(const float* i0, Py_ssize_t height, Py_ssize_t width,
                        Py_ssize_t i0_stride_y, Py_ssize_t i0_stride_x,
                        const float* i1, Py_ssize_t i1_stride_y, Py_ssize_t i1_stride_x,
                        const float* init, Py_ssize_t init_height, Py_ssize_t init_width,
                        Py_ssize_t init_stride_y, Py_ssize_t init_stride_x, Py_ssize_t init_stride_c,
                        float* flow, Py_ssize_t flow_stride_y, Py_ssize_t flow_stride_x, Py_ssize_t flow_stride_c,
                        Py_ssize_t patch, Py_ssize_t stride, Py_ssize_t iterations, Py_ssize_t finest_level,
                        int propagation, float alpha, float gamma, float delta, Py_ssize_t fixed_point, Py_ssize_t sor,
                        Py_ssize_t refine_levels, Py_ssize_t full_refine_iterations, int fill_occlusions,
                        Py_ssize_t presmooth, float omega, Py_ssize_t radius, float epsilon, Py_ssize_t workers) noexcept nogil:
    return c_flow_from_luma(i0, height, width, i0_stride_y, i0_stride_x, i1, i1_stride_y, i1_stride_x, init,
                            init_height, init_width, init_stride_y, init_stride_x, init_stride_c, flow, flow_stride_y,
                            flow_stride_x, flow_stride_c, patch, stride, iterations, finest_level, propagation, alpha,
                            gamma, delta,
                            fixed_point, sor, refine_levels, full_refine_iterations, fill_occlusions, presmooth, omega,
                            radius, epsilon, workers)
