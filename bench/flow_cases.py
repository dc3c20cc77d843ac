"""The flow development set: image pairs with a known flow, built to look like real footage.

Three families, each a dict ``name -> Case`` (frame pair, true flow, masks):

- **real**: the Middlebury 2014 motorcycle stereo pair shipped with scikit-image (a real camera
  pair, 500x741, displacements of 7-60 px, depth edges, regions seen by one camera only): the flow
  from the left view to the right is ``(-disparity, 0)``; pixels without a disparity are left out,
  and those the right camera does not see are marked occluded.
- **smooth**: a real image warped by a known smooth flow (rotation and zoom, a swirl, a 40 px
  translation): what the estimator was first tuned on.
- **layered**: a foreground cut from one real image with a soft mask moving differently from a
  real background under a camera pan or zoom of 20-60 px (translation, rotation, scale of the
  foreground; displacements up to 60 px), so the background is revealed and covered at the
  foreground's edges (marked occluded); a thin bar crossing the picture, a flat (textureless)
  region in the background.

Held out, never used to choose a setting (``stereo_pairs``): other real camera pairs with ground
truth from a folder, such as Middlebury's Aloe pair (1282x1110, disparities 43-211 px) that
OpenCV's samples ship (Debian's ``opencv-doc``: ``examples/data/aloe{L,R}.jpg``, ``aloeGT.png``),
reduced to a third (14-70 px) and a half (21-105 px).

Every case also comes with a 15% gain change, a white-balance change, a regional 30% gain (a
soft blob: flicker that varies across the picture) and noise on the second frame. ``Case.occluded`` marks pixels of the first frame not seen in the second (covered, or
moved out of the frame), ``Case.boundary`` those within 6 px of a motion boundary; EPE is taken
over ``Case.valid`` (all pixels with a true flow), and separately over the occluded and boundary
pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import framefix


@dataclasses.dataclass
class Case:
    first: np.ndarray   # (H, W, 3) uint8
    second: np.ndarray
    flow: np.ndarray    # (H, W, 2) float32, first -> second: first[y, x] ~ second[y + dy, x + dx]
    valid: np.ndarray   # (H, W) bool: pixels with a true flow
    occluded: np.ndarray
    boundary: np.ndarray


def _affine_flow(shape, matrix):
    """The flow x -> A x - x of a 2x3 affine matrix acting on (x, y) pixel positions."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    moved_x = matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]
    moved_y = matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]
    return np.stack([moved_x - x, moved_y - y], axis=-1).astype(np.float32)


def _similarity(angle_deg, scale, tx, ty, centre):
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    cx, cy = centre
    # rotate and scale about the centre, then translate
    return np.array([[c, -s, cx - c * cx + s * cy + tx], [s, c, cy - s * cx - c * cy + ty]])


def _invert(matrix):
    full = np.vstack([matrix, [0, 0, 1]])
    return np.linalg.inv(full)[:2]


def _place(image, matrix, shape):
    """``image`` seen through the affine map: out(x) = image(A^-1 x), bicubic, edges reflected."""
    inverse = _affine_flow(shape, _invert(matrix))
    source = image if image.shape[:2] == shape else _fit(image, shape)
    return framefix.warp(source, inverse, interpolation="cubic", border="reflect")


def _fit(image, shape):
    from skimage import transform

    resized = transform.resize(image, shape, anti_aliasing=True, preserve_range=True)
    return np.clip(resized, 0, 255).astype(image.dtype)


def _blob(shape, centre, radii, seed):
    """A soft-edged irregular blob (0..1): an ellipse with a wobbly outline, 3 px feather."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    dx, dy = (x - centre[0]) / radii[0], (y - centre[1]) / radii[1]
    angle = np.arctan2(dy, dx)
    rng = np.random.default_rng(seed)
    wobble = 1 + sum(rng.uniform(-0.08, 0.08) * np.cos(k * angle + rng.uniform(0, 6.3)) for k in (2, 3, 5))
    distance = (np.hypot(dx, dy) - wobble) * min(radii)  # pixels, negative inside
    return np.clip(0.5 - distance / 3, 0, 1).astype(np.float32)


def _boundary(flow, width=6):
    from scipy import ndimage

    jump = np.zeros(flow.shape[:2], bool)
    for axis in (0, 1):
        step = np.abs(np.diff(flow, axis=axis)).max(axis=-1) > 1.0
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        jump |= np.pad(step, pad)
        pad[axis] = (1, 0)
        jump |= np.pad(step, pad)
    return ndimage.binary_dilation(jump, iterations=width)


def _out_of_frame(flow):
    h, w = flow.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    tx, ty = x + flow[..., 0], y + flow[..., 1]
    return (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)


def _variants(first, second, rng):
    """The second frame as it is, 15% brighter, with a white-balance shift, 30% brighter in a
    soft blob (regional flicker: what framefix's own analyses see), with noise."""
    f = second.astype(np.float32)
    h, w = f.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    blob = 1 + 0.3 * np.exp(-((x - 0.65 * w) ** 2 + (y - 0.4 * h) ** 2) / (2 * (0.15 * max(h, w)) ** 2))
    return {
        "plain": second,
        "gain 15%": np.clip(f * 1.15, 0, 255).astype(np.uint8),
        "white balance": np.clip(f * np.array([1.12, 1.0, 0.88], np.float32), 0, 255).astype(np.uint8),
        "regional gain": np.clip(f * blob[..., None], 0, 255).astype(np.uint8),
        "noise": np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8),
    }


def _hidden_in_right_view(dx, valid):
    """Left-view pixels the right camera does not see: some pixel further right lands at or
    left of where this one lands (a nearer surface, with a larger disparity, covers it). They
    have a true disparity, so they are scored; the estimators can only guess it."""
    landing = np.where(valid, np.arange(dx.shape[1])[None, :] + dx, np.inf)
    # the leftmost landing of the pixels strictly to the right of each pixel
    leftmost = np.minimum.accumulate(landing[:, ::-1], axis=1)[:, ::-1]
    after = np.concatenate([leftmost[:, 1:], np.full((dx.shape[0], 1), np.inf)], axis=1)
    return valid & (after < landing - 0.5)


def real_cases():
    """The motorcycle stereo pair (left -> right), with the variants."""
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()
    valid = np.isfinite(disparity)
    flow = np.zeros(disparity.shape + (2,), np.float32)
    flow[..., 0] = np.where(valid, -disparity, 0)
    valid &= ~_out_of_frame(flow)
    occluded = _hidden_in_right_view(flow[..., 0], valid)
    boundary = _boundary(flow) & valid
    rng = np.random.default_rng(1)
    return {f"motorcycle/{name}": Case(left, second, flow, valid, occluded & valid, boundary)
            for name, second in _variants(left, right, rng).items()}


def stereo_pairs(folder, scales=(3, 2)):
    """Held-out real camera pairs with ground truth, never tuned on: every ``<name>L.*``,
    ``<name>R.*``, ``<name>GT.png`` triple in ``folder`` (left view, right view, the left view's
    disparity in pixels, 0 where unknown: how OpenCV's samples ship Middlebury's Aloe pair), each
    reduced by each of ``scales`` (the views anti-aliased, the disparity sampled at the nearest
    pixel and divided by the scale, so no value mixes two depths) and given the variants."""
    import glob
    import os

    from skimage import io, transform

    cases = {}
    rng = np.random.default_rng(3)
    for truth_path in sorted(glob.glob(os.path.join(folder, "*GT.png"))):
        name = os.path.basename(truth_path)[:-len("GT.png")]
        views = [sorted(glob.glob(os.path.join(folder, f"{name}{side}.*"))) for side in "LR"]
        if not all(views):
            continue
        left, right = (np.atleast_3d(io.imread(found[0]))[..., :3] for found in views)
        left, right = (np.repeat(view, 3, axis=2) if view.shape[2] == 1 else view for view in (left, right))
        disparity = io.imread(truth_path).astype(np.float32)
        if disparity.ndim != 2 or disparity.shape != left.shape[:2] or right.shape != left.shape:
            raise ValueError(f"{truth_path}: the disparity must be one channel of the views' size {left.shape[:2]}, "
                             f"got {disparity.shape} (views {left.shape} and {right.shape})")
        for scale in scales:
            h, w = round(disparity.shape[0] / scale), round(disparity.shape[1] / scale)
            rows = np.clip(np.round((np.arange(h) + 0.5) * scale - 0.5).astype(int), 0, disparity.shape[0] - 1)
            columns = np.clip(np.round((np.arange(w) + 0.5) * scale - 0.5).astype(int), 0, disparity.shape[1] - 1)
            sampled = disparity[np.ix_(rows, columns)]
            valid = sampled > 0
            flow = np.zeros((h, w, 2), np.float32)
            flow[..., 0] = np.where(valid, -sampled / scale, 0)
            valid &= ~_out_of_frame(flow)
            occluded = _hidden_in_right_view(flow[..., 0], valid)
            boundary = _boundary(flow) & valid
            first, second = (np.clip(transform.resize(view, (h, w), anti_aliasing=True, preserve_range=True),
                                     0, 255).astype(np.uint8) for view in (left, right))
            for variant, frame in _variants(first, second, rng).items():
                cases[f"{name} 1:{scale}/{variant}"] = Case(first, frame, flow, valid, occluded & valid, boundary)
    return cases


def smooth_cases(shape=(360, 640)):
    """Real images warped by known smooth flows (no occlusion), with the variants."""
    from skimage import data

    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, scale = w / 2, h / 2, max(h, w) / 640
    angle, zoom = 0.04, 1.05
    flows = {
        "rotate+zoom": np.stack([(np.cos(angle) * zoom - 1) * (x - cx) - np.sin(angle) * zoom * (y - cy),
                                 np.sin(angle) * zoom * (x - cx) + (np.cos(angle) * zoom - 1) * (y - cy)], axis=-1),
        "swirl": np.stack([14 * scale * np.sin(y / (60 * scale)), 10 * scale * np.cos(x / (80 * scale))], axis=-1),
        "translate": np.stack([np.full_like(x, 32 * scale), np.full_like(x, 24 * scale)], axis=-1),
    }
    cases = {}
    rng = np.random.default_rng(2)
    for image_name, image in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        first = _fit(image, shape)
        for flow_name, b in flows.items():
            b = b.astype(np.float32)
            # second(x) = first(x + b): the flow from second back to first is b
            second = framefix.warp(first, b, interpolation="cubic", border="reflect")
            valid = ~_out_of_frame(b)
            margin = np.zeros(shape, bool)
            margin[16:-16, 16:-16] = True
            for variant, frame in _variants(second, first, rng).items():
                cases[f"smooth/{image_name}/{flow_name}/{variant}"] = Case(
                    second, frame, b, valid & margin, np.zeros(shape, bool), np.zeros(shape, bool))
    return cases


# (background, foreground source, camera: angle, scale, tx, ty; foreground: angle, scale, tx, ty)
_SCENES = {
    "pan+object": ("rocket", "astronaut", (0.0, 1.0, -28, 6), (3.0, 1.0, 45, -20)),
    "zoom+object": ("coffee", "chelsea", (0.0, 1.08, 0, 0), (-4.0, 0.95, -38, 30)),
    "still+fast object": ("hubble_deep_field", "coffee", (0.0, 1.0, 0, 0), (0.0, 1.05, 58, 12)),
    "pan+crossing": ("chelsea", "rocket", (1.0, 1.0, 35, -12), (-2.0, 1.0, -50, -8)),
}


def layered_cases(shape=(360, 640)):
    """Foreground over background, moving differently: occlusions, motion boundaries, large
    displacements, a thin bar and a flat region, with the variants."""
    from skimage import data

    h, w = shape
    cases = {}
    rng = np.random.default_rng(3)
    for index, (name, (background_name, foreground_name, camera, motion)) in enumerate(_SCENES.items()):
        background = _fit(getattr(data, background_name)(), shape).astype(np.float32)
        # a flat region (sky, a wall) and a thin dark bar across it: hard cases for patches
        background[int(0.06 * h):int(0.22 * h), int(0.55 * w):int(0.9 * w)] = background[int(0.06 * h):int(0.22 * h), int(0.55 * w):int(0.9 * w)].mean(axis=(0, 1))
        background[:, int(0.3 * w):int(0.3 * w) + 3] *= 0.3
        background = background.astype(np.uint8)
        foreground = _fit(getattr(data, foreground_name)(), shape)
        centre = (w * 0.45, h * 0.5)
        mask = _blob(shape, centre, (w * 0.17, h * 0.3), seed=index)
        camera_matrix = _similarity(camera[0], camera[1], camera[2], camera[3], (w / 2, h / 2))
        object_matrix = _similarity(motion[0], motion[1], motion[2], motion[3], centre)
        # frame 1: background as it is, the object at rest; frame 2: both moved
        alpha1, alpha2 = mask, _place(mask, object_matrix, shape)
        first = (alpha1[..., None] * foreground + (1 - alpha1[..., None]) * background)
        background2 = _place(background, camera_matrix, shape).astype(np.float32)
        foreground2 = _place(foreground, object_matrix, shape).astype(np.float32)
        second = alpha2[..., None] * foreground2 + (1 - alpha2[..., None]) * background2
        first, second = (np.clip(np.rint(f), 0, 255).astype(np.uint8) for f in (first, second))
        background_flow = _affine_flow(shape, camera_matrix)
        object_flow = _affine_flow(shape, object_matrix)
        on_object = alpha1 >= 0.5
        flow = np.where(on_object[..., None], object_flow, background_flow)
        # a background pixel is covered when it lands under the object in frame 2
        landing = framefix.warp(alpha2, flow, interpolation="linear", border="constant")
        covered = ~on_object & (landing >= 0.5)
        outside = _out_of_frame(flow)
        valid = ~outside
        occluded = covered & valid
        boundary = _boundary(flow) & valid
        for variant, frame in _variants(first, second, rng).items():
            cases[f"layered/{name}/{variant}"] = Case(first, frame, flow, valid, occluded, boundary)
    return cases


def all_cases():
    return {**real_cases(), **smooth_cases(), **layered_cases()}


def endpoint_errors(estimate, case: Case) -> dict:
    """Mean EPE over the valid pixels, the occluded ones and the boundary ones, and the share of
    valid pixels off by more than 3 px."""
    error = np.hypot(*(estimate - case.flow).transpose(2, 0, 1))
    out = {"epe": float(error[case.valid].mean()), "bad3": float(np.mean(error[case.valid] > 3) * 100)}
    for name in ("occluded", "boundary"):
        mask = getattr(case, name)
        out[name] = float(error[mask].mean()) if mask.any() else None
    return out
