"""Quick measurement of framefix flow presets against OpenCV DIS on the development set
(bench/flow_cases.py, 55 pairs), 1 thread: a table per preset, for trying estimator changes.

    python bench/flow_eval.py [preset ...] [--set key=value ...] [--cache DIR]

The cases are cached in ``--cache``. DIS runs on each case right after framefix, so that both
are timed under the same load (the machine may be shared). ``--set`` overrides preset settings
(``patch=8``).
"""

from __future__ import annotations

import argparse
import ast
import os
import pickle
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import framefix  # noqa: E402
from flow_cases import all_cases, endpoint_errors  # noqa: E402

PAIRS = {"ultrafast": "ultrafast", "fast": "fast", "medium": "medium", "accurate": "medium"}


def _timed(call, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return result, best


def _cases(cache):
    path = os.path.join(cache, "cases.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    cases = all_cases()
    with open(path, "wb") as f:
        pickle.dump(cases, f)
    return cases


def evaluate(preset, cases, overrides, repeats=1):
    """Per-case (EPE, seconds) of framefix and DIS, and a summary dict."""
    import cv2

    cv2.setNumThreads(1)
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{PAIRS[preset].upper()}"))
    mine, theirs = {}, {}
    for name, case in cases.items():
        flow, seconds = _timed(lambda: framefix.estimate_flow(case.first, case.second, preset=preset, workers=1,
                                                              **overrides), repeats)
        mine[name] = (endpoint_errors(flow, case), seconds)
        g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (case.first, case.second))
        flow, seconds = _timed(lambda: dis.calc(g0, g1, None), repeats)
        theirs[name] = (endpoint_errors(flow.astype(np.float32), case), seconds)
    epe = {n: mine[n][0]["epe"] for n in cases}
    ref = {n: theirs[n][0]["epe"] for n in cases}
    bound = 0.7 if preset == "accurate" else 1.0
    lost = [n for n in cases if epe[n] > bound * ref[n]]
    gain = [n for n in cases if n.endswith("/plain")
            and epe[n.replace("/plain", "/gain 15%")] - epe[n] > max(0.2 * epe[n], 0.05)]

    def mean(table, select):
        return float(np.mean([table[n] for n in cases if select(n)]))

    return {
        "motorcycle": (epe["motorcycle/plain"], ref["motorcycle/plain"]),
        "layered/noise": (mean(epe, lambda n: n.startswith("layered") and n.endswith("/noise")),
                          mean(ref, lambda n: n.startswith("layered") and n.endswith("/noise"))),
        "layered": (mean(epe, lambda n: n.startswith("layered")), mean(ref, lambda n: n.startswith("layered"))),
        "smooth": (mean(epe, lambda n: n.startswith("smooth")), mean(ref, lambda n: n.startswith("smooth"))),
        "all": (mean(epe, lambda n: True), mean(ref, lambda n: True)),
        "lost": lost,
        "worst": max(cases, key=lambda n: epe[n] / ref[n]),
        "worst_ratio": max(epe[n] / ref[n] for n in cases),
        "time": (sum(m[1] for m in mine.values()), sum(t[1] for t in theirs.values())),
        "gain_beyond": gain,
        "epe": epe,
    }


def report(preset, summary):
    bound = " (at 0.7x)" if preset == "accurate" else ""
    lines = [f"{preset} vs DIS {PAIRS[preset]}"]
    for key in ("motorcycle", "layered/noise", "layered", "smooth", "all"):
        a, b = summary[key]
        lines.append(f"  {key:14s} {a:6.3f} vs {b:6.3f}  ({a / b:.2f}x)")
    lines.append(f"  lost{bound}: {len(summary['lost'])} of 55: {', '.join(summary['lost'])}")
    lines.append(f"  worst: {summary['worst_ratio']:.2f} ({summary['worst']})")
    t, d = summary["time"]
    lines.append(f"  time {t:.2f} s vs {d:.2f} s ({t / d:.2f}x); gain >20%: {summary['gain_beyond']}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("presets", nargs="*", default=list(PAIRS))
    parser.add_argument("--set", action="append", default=[], help="key=value override")
    parser.add_argument("--cache", default=os.environ.get("FLOW_EVAL_CACHE", "/tmp/flow_eval"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--save", help="pickle the summaries here")
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = ast.literal_eval(value)
    cases = _cases(args.cache)
    summaries = {}
    for preset in args.presets:
        summaries[preset] = evaluate(preset, cases, overrides, args.repeats)
        print(report(preset, summaries[preset]), flush=True)
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(summaries, f)


if __name__ == "__main__":
    main()
