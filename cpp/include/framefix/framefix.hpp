#pragma once
// Umbrella header: everything framefix's kernels offer to C++ code.

#include "border.hpp"
#include "color.hpp"
#include "consistency.hpp"
#include "deflicker.hpp"
#include "flow.hpp"
#include "flow_refine.hpp"
#include "image_view.hpp"
#include "parallel.hpp"
#include "patch_search.hpp"
#include "pixel_traits.hpp"
#include "pyramid.hpp"
#include "sampling.hpp"
#include "simd.hpp"
#include "stats.hpp"
#include "temporal.hpp"
#include "warp.hpp"
