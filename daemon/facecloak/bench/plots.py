"""Plots of the privacy benchmark (matplotlib, Agg backend; the ``bench`` extra).

    psr_vs_budget.png      PSR@1 (uploaded, realistic) against the base budget 2-16/255
    psr_vs_steps.png       ... against optimisation steps
    psr_vs_k.png           ... against K, the number of varied images
    examples.png           clean | cloaked (as uploaded) | difference x10 (grey = 0)

Black-box means are solid lines, surrogate means dashed; each FR model is a
faint line behind them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AXES = {
    "budget": ("psr_vs_budget.png", "base budget L_inf (/255); sticker and high-pass budgets scaled alike"),
    "steps": ("psr_vs_steps.png", "optimisation steps"),
    "k": ("psr_vs_k.png", "K (varied images of the person)"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sweep_plot(path: Path, axis: str, series: dict[str, list[dict]]) -> None:
    """One line per method and group; x = the swept value, y = PSR@1 in %."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (method, points) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        x = [p["value"] for p in points]
        models = sorted({m for p in points for m in p["per_model"]})
        for m in models:
            ax.plot(x, [100 * p["per_model"][m] for p in points], color=colour, alpha=0.15, lw=1)
        if any(p["blackbox_psr1"] is not None for p in points):
            ax.plot(x, [None if p["blackbox_psr1"] is None else 100 * p["blackbox_psr1"] for p in points],
                    "o-", color=colour, label=f"{method}: black-box mean")
        if any(p["surrogate_psr1"] is not None for p in points):
            ax.plot(x, [None if p["surrogate_psr1"] is None else 100 * p["surrogate_psr1"] for p in points],
                    "s--", color=colour, label=f"{method}: surrogate mean")
    ax.set_xlabel(AXES[axis][1])
    ax.set_ylabel("PSR@1, uploaded photo (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def example_grid(path: Path, examples: dict[str, list[dict]], per_method: int = 1) -> None:
    """Rows = methods; columns = clean, cloaked as uploaded, (cloaked - clean) x 10 + 128."""
    plt = _pyplot()
    rows = [(name, ex) for name, exs in examples.items() for ex in exs[:per_method]]
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.5, 2.6 * len(rows)), squeeze=False)
    for r, (name, ex) in enumerate(rows):
        clean, cloaked = ex["clean"], ex["uploaded"]
        diff = np.clip(128 + 10 * (cloaked.astype(np.float32) - clean.astype(np.float32)), 0, 255).astype(np.uint8)
        for c, (img, title) in enumerate(((clean, "clean"), (cloaked, f"{name} (uploaded)"),
                                          (diff, "difference x10"))):
            axes[r, c].imshow(img)
            axes[r, c].set_title(title, fontsize=8)
            axes[r, c].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_all(out_dir: Path, sweeps: dict | None, examples: dict[str, list[dict]]) -> dict[str, str]:
    """Write every plot there is data for; {plot name: file name}."""
    files = {}
    for axis, (name, _) in AXES.items():
        series = (sweeps or {}).get(axis) or {}
        if series:
            sweep_plot(out_dir / name, axis, series)
            files[axis] = name
    if examples:
        example_grid(out_dir / "examples.png", examples)
        files["examples"] = "examples.png"
    return files
