"""A before/after picture of a cloak: clean | cloaked | |difference| x 10."""

from __future__ import annotations

import cv2
import numpy as np

DIFF_GAIN = 10
LABELS = ("original", "cloaked", f"|difference| x{DIFF_GAIN}")


def before_after(original_rgb: np.ndarray, cloaked_rgb: np.ndarray) -> np.ndarray:
    """Three panels side by side, each labelled in its top-left corner.

    Args:
        original_rgb, cloaked_rgb: (H, W, 3) uint8 RGB, the same shape.
    Returns:
        (H, 3W, 3) uint8 RGB: original | cloaked | |cloaked - original| * 10
        (per channel, clipped at 255; black where nothing changed).
    """
    for name, img in (("original_rgb", original_rgb), ("cloaked_rgb", cloaked_rgb)):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"{name}: expected an (H, W, 3) uint8 RGB image, got {got}")
    if original_rgb.shape != cloaked_rgb.shape:
        raise ValueError(f"shapes differ: {original_rgb.shape} vs {cloaked_rgb.shape}")
    diff = np.abs(cloaked_rgb.astype(np.int16) - original_rgb.astype(np.int16)) * DIFF_GAIN
    panels = [original_rgb.copy(), cloaked_rgb.copy(), np.clip(diff, 0, 255).astype(np.uint8)]
    for panel, label in zip(panels, LABELS):
        _label(panel, label)
    return np.concatenate(panels, axis=1)


def _label(panel: np.ndarray, text: str) -> None:
    """White text on a black box in the top-left corner, sized to the panel."""
    h, w = panel.shape[:2]
    scale = max(0.3, min(h, w) / 700)
    thick = max(1, round(scale * 2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, round(6 * scale))
    x1, y1 = min(w, tw + 2 * pad), min(h, th + base + 2 * pad)
    panel[:y1, :x1] = 0
    cv2.putText(panel, text, (pad, pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
