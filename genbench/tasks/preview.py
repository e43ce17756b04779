"""Preview files for samples: an image grid PNG, a 2-D scatter PNG and text
snippets.

All write files only (no display, no pyplot state), so they are safe in
worker processes and threads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

MAX_PREVIEW_IMAGES = 64
GRID_COLUMNS = 8
MIN_TILE_PIXELS = 32
"""Small images (8x8 digits) are enlarged by whole-pixel repetition until a
tile is at least this many pixels wide."""
PADDING_PIXELS = 2
PADDING_VALUE = 128


def png_path(path: Path) -> Path:
    """``path`` with ``.png`` appended (``path`` is given without suffix and
    may contain dots, e.g. ``vae-beta1.5``)."""
    path = Path(path)
    return path.parent / f"{path.name}.png"


def image_grid(images: torch.Tensor | np.ndarray, levels: int) -> np.ndarray:
    """Tile up to :data:`MAX_PREVIEW_IMAGES` images into one 8-bit picture.

    Args:
        images: ``N x C x H x W`` integer images with values in
            ``[0, levels - 1]``; ``C`` is 1 (grayscale) or 3 (RGB).
        levels: number of discrete levels; values are mapped linearly onto
            ``0..255``.

    Returns:
        ``uint8`` array ``(rows, cols)`` for grayscale or ``(rows, cols, 3)``
        for RGB, with :data:`PADDING_VALUE` gray lines between tiles.
    """
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images
    array = np.asarray(array)
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) == 0:
        raise ValueError(
            f"an image grid needs N x C x H x W images with N >= 1 and C in (1, 3), "
            f"got shape {array.shape}"
        )
    array = array[:MAX_PREVIEW_IMAGES].astype(np.float64)
    scaled = np.rint(array * (255.0 / (levels - 1))).clip(0, 255).astype(np.uint8)
    n, channels, height, width = scaled.shape
    zoom = max(1, math.ceil(MIN_TILE_PIXELS / max(height, width)))
    scaled = scaled.repeat(zoom, axis=2).repeat(zoom, axis=3)
    tile_h, tile_w = height * zoom, width * zoom
    columns = min(GRID_COLUMNS, n)
    rows = math.ceil(n / columns)
    step_h, step_w = tile_h + PADDING_PIXELS, tile_w + PADDING_PIXELS
    grid = np.full(
        (channels, rows * step_h + PADDING_PIXELS, columns * step_w + PADDING_PIXELS),
        PADDING_VALUE,
        dtype=np.uint8,
    )
    for index, tile in enumerate(scaled):
        top = PADDING_PIXELS + (index // columns) * step_h
        left = PADDING_PIXELS + (index % columns) * step_w
        grid[:, top : top + tile_h, left : left + tile_w] = tile
    return grid[0] if channels == 1 else grid.transpose(1, 2, 0)


def save_image_grid(images: torch.Tensor | np.ndarray, levels: int, path: Path) -> Path:
    """Write :func:`image_grid` of ``images`` as ``<path>.png``; return the file."""
    target = png_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(images, levels)).save(target, format="PNG")
    return target


def save_scatter(
    points: torch.Tensor | np.ndarray,
    modes: np.ndarray,
    path: Path,
    *,
    title: str = "",
) -> Path:
    """Scatter ``points`` (``N x 2``) over the true ``modes`` (``K x 2``,
    drawn as red rings) and write ``<path>.png``; return the file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # slow import: only here
    from matplotlib.figure import Figure

    xy = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
    figure = Figure(figsize=(4, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(
        modes[:, 0], modes[:, 1], s=80, facecolors="none", edgecolors="tab:red", label="modes"
    )
    axes.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    span = np.abs(modes).max() * 1.4 + 0.5
    axes.set_xlim(-span, span)
    axes.set_ylim(-span, span)
    axes.set_aspect("equal")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper right", fontsize=7)
    figure.tight_layout()
    target = png_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target


PREVIEW_SNIPPETS = 8
"""Text samples written to a text preview."""

SNIPPET_CHARACTERS = 240
"""Characters kept of each text sample in a preview (the rest is cut, marked
with an ellipsis)."""


def save_text_snippets(samples: Sequence[str], path: Path) -> Path:
    """Write up to :data:`PREVIEW_SNIPPETS` of ``samples``, each cut to
    :data:`SNIPPET_CHARACTERS` characters, to ``<path>.txt``, one JSON string
    a line (so samples keep their newlines); return the file."""
    target = Path(path).with_name(f"{Path(path).name}.txt")
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(_cut(text)) for text in list(samples)[:PREVIEW_SNIPPETS]]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def read_text_snippets(path: Path) -> list[str]:
    """The snippets :func:`save_text_snippets` wrote to ``path``."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def _cut(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARACTERS else text[:SNIPPET_CHARACTERS] + "…"
