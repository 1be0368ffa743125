"""Measure an animated GIF and score it against the seed's targets (needs Pillow and NumPy).

Targets: exactly 24 frames, a seamless loop, about 1 s per loop, under 100 KB, and actual
motion. The loop seam is normalised by the GIF's own average frame-to-frame motion: the raw
pixel difference between the last and first frame depends on the canvas and ball size the model
picked, but a seamless loop closes about as smoothly as any other step, so
``loop_gap / motion`` near 1 (or below) means seamless, whatever the drawing's scale.
"""

from __future__ import annotations

import io
from typing import Any

TARGET_FRAMES = 24
TARGET_PLAYBACK_MS = 1000
MAX_SIZE_KB = 100
MIN_MOTION = 5_000  # summed absolute grey-level change per frame step; below it the GIF is "static"


def measure(gif: bytes) -> dict[str, Any]:
    """Frame count, mean motion between frames, last->first gap, playback time and size."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(gif)) as img:
        n_frames = getattr(img, "n_frames", 1)
        motion, loop_gap, playback = 0.0, 0.0, 0
        prev = first = None
        for i in range(n_frames):
            img.seek(i)
            playback += int(img.info.get("duration") or 0)
            frame = np.asarray(img.convert("L"), dtype=np.int32)
            if first is None:
                first = frame
            if prev is not None and prev.shape == frame.shape:
                motion += float(np.abs(frame - prev).sum())
            prev = frame
        if n_frames > 1 and first is not None and prev is not None:
            loop_gap = float(np.abs(prev - first).sum())
        size = img.size
    return {
        "ok": True,
        "frames": n_frames,
        "motion": motion / max(n_frames - 1, 1),
        "loop_gap": loop_gap,
        "playback_ms": playback,
        "frame_ms": playback / n_frames if n_frames else 0,
        "size_kb": len(gif) / 1024,
        "canvas": f"{size[0]}x{size[1]}",
    }


def score_metrics(m: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Score in [0, 1]: 0.2 moving + 0.3 frame count + 0.2 loop + 0.2 playback + 0.1 size."""
    if not m.get("ok"):
        return 0.0, {"failed": True, "error": str(m.get("error", ""))[:300], "attempts": m.get("attempts")}
    n, motion = m["frames"], m["motion"]
    moving = 1.0 if motion > MIN_MOTION else 0.0
    frame_acc = max(0.0, 1 - abs(n - TARGET_FRAMES) / TARGET_FRAMES)
    loop_ratio = m["loop_gap"] / (motion + 1.0)
    loop_score = moving * max(0.0, 1 - max(0.0, loop_ratio - 1.0) / 3.0)
    play_score = max(0.0, 1 - abs(m["playback_ms"] - TARGET_PLAYBACK_MS) / TARGET_PLAYBACK_MS)
    size_score = 1.0 if m["size_kb"] < MAX_SIZE_KB else 0.0
    score = 0.20 * moving + 0.30 * frame_acc + 0.20 * loop_score + 0.20 * play_score + 0.10 * size_score
    return round(score, 3), {
        "frames": n,
        "moving": bool(moving),
        "loop_ratio": round(loop_ratio, 2),
        "frame_ms": round(m["frame_ms"], 1),
        "playback_ms": m["playback_ms"],
        "play_score": round(play_score, 2),
        "size_kb": round(m["size_kb"], 1),
        "canvas": m.get("canvas"),
        "attempts": m.get("attempts"),
    }
