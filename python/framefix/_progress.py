"""A one-line progress bar on stderr: frames (or clips) done, their rate and ETA. Silent when not a terminal."""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, label: str, *, enabled: bool | None = None, stream=None, interval: float = 0.2,
                 unit: str = "frames"):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.unit, self.rate_unit = unit, "fps" if unit == "frames" else f"{unit}/s"
        self.interval = interval
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int | None, note: str | None = None) -> None:
        """Show ``done`` of ``total`` (None: unknown), with ``note`` after the rate."""
        now = time.perf_counter()
        if not self.enabled or (now - self.last_draw < self.interval and done != total):
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        if total:
            width = 24
            filled = min(width, int(width * done / total))
            eta = _clock((total - done) / rate) if rate > 0 else "?"
            line = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {self.unit}  {rate:5.1f} {self.rate_unit}  ETA {eta}"
        else:
            line = f"{self.label} {done} {self.unit}  {rate:5.1f} {self.rate_unit}  {_clock(elapsed)} elapsed"
        if note:
            line += f"  {note}"
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
