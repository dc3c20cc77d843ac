#pragma once
// Dense optical flow of the Dense Inverse Search class (Kroeger et al., ECCV 2016), in parts that
// python/framefix/flow.py (estimate_flow) runs coarse to fine over the pyramid:
//   pyramid.hpp       flow_luma (the input plane), halve_plane (the next level), resize_flow
//                     (a flow carried to the next finer level);
//   patch_search.hpp  patch_flow_level: patches aligned by inverse-compositional Gauss-Newton
//                     after zero-mean, unit-variance normalisation, blended into a dense field;
//   flow_refine.hpp   refine_flow_level: variational refinement (Brox et al. 2004) on locally
//                     normalised images;
//   consistency.hpp   consistency_ratio: the forward-backward check of two flows.
// Their Numba twins (python/framefix/_numba/flow.py) follow the same steps in the same order, so
// both backends agree bit for bit. What is measured along a flow is in temporal.hpp.

#include "consistency.hpp"
#include "flow_refine.hpp"
#include "patch_search.hpp"
#include "pyramid.hpp"
