"""The paper under a photographed digit, told from the ink: its level and noise (:func:`paper_level`), and its
ruled lines and shadows, taken out of the ink (:func:`without_ruled_lines`, :func:`without_shadows`). Each
works on gray levels with the ink above the paper, in NumPy alone.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HAZE = 3  # the paper's noise: below this many of its spreads a pixel is paper
PHOTO = 100  # pictures with fewer pixels a side are drawings or digits cropped tightly: no table, lines or shadows
PASSES = 5  # fits of the paper's plane at most, each to the border pixels that lie near the last
CELLS = 16  # shadows are read on a grid of this many cells along the picture's shorter side
SAMPLE = 16  # pixels a cell's paper is read from, along each side
REACH = 2  # cells each way: what is narrower than 2 * REACH + 1 cells (a stroke) is not a shadow
SMOOTH = 0.2  # a shadow changes from a cell to the next by less than this fraction of the darkest ink


def paper_level(gray: np.ndarray, border: np.ndarray | None = None) -> tuple[float | np.ndarray, float]:
    """The paper's level under each pixel of ``gray`` (float (h, w), ink above the paper) and the spread of its
    noise, read from the paper on the picture's border (or on ``border``, bool (h, w): a tilted page's edge).

    The paper's pixels are first those of the border within three spreads of
    its lowest tenth, ink lying above it (a digit cropped tightly may be ink
    over up to nine tenths of its border); a plane is fitted to them, and
    refitted to the border pixels within three spreads of the last fit until
    they stay the same (so a photo's light, falling unevenly across the
    page, is followed, and strokes that reach the border and a strip of
    table beyond the paper's edge are left out). The plane is the paper's
    level wherever it varies by a gray level or more across the picture; on
    a drawing or a scan the level is one, the median of the paper's pixels.
    A spread is a normal distribution's standard deviation, read from the
    median absolute deviation (or, before ink is set apart, from the lowest
    tenth): 0 for a drawing, whose paper is one value.
    """
    height, width = gray.shape
    rows, cols = np.nonzero(_border(gray.shape) if border is None else border)
    values = gray[rows, cols]
    design = np.stack([np.ones(values.size), rows / height, cols / width], axis=1)
    deviation = np.abs(values - float(np.quantile(values, 0.1)))  # from the paper's side: ink lies above it
    kept = deviation <= max(3 * _spread(deviation, 0.1), 1 / 255)
    for _ in range(PASSES):
        fit = np.linalg.lstsq(design[kept], values[kept], rcond=None)[0]
        residual = values - design @ fit
        spread = _spread(np.abs(residual[kept]))
        within = np.abs(residual) <= max(3 * spread, 1 / 255)
        if np.array_equal(within, kept):
            break
        kept = within
    if abs(fit[1]) * (height - 1) / height + abs(fit[2]) * (width - 1) / width >= 1 / 255:  # across the picture
        return fit[0] + fit[1] * (np.arange(height) / height)[:, None] + fit[2] * (np.arange(width) / width), spread
    level = float(np.median(values[kept]))
    return level, _spread(np.abs(values[kept] - level))


def _spread(deviations: np.ndarray, quantile: float = 0.5) -> float:
    """The standard deviation of a normal distribution whose absolute deviations have this ``quantile`` (1.4826
    times the median; 7.958 times the lowest tenth's bound)."""
    return float(np.quantile(deviations, quantile)) / _NORMAL_QUANTILES[quantile]


_NORMAL_QUANTILES = {0.5: 0.67449, 0.1: 0.12566}  # of |x| for x ~ N(0, 1)


def _border(shape: tuple[int, ...]) -> np.ndarray:
    """The outermost rows and columns of a picture of ``shape``, as a bool mask."""
    border = np.zeros(shape, bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    return border


def without_ruled_lines(ink: np.ndarray, spread: float) -> None:
    """Take a page's ruled lines (a notebook's rows, a grid's squares) out of ``ink`` (float (h, w), the paper at
    0 with noise of ``spread``), in place, in pictures of :data:`PHOTO` pixels a side or more.

    A ruled line crosses the whole page, so the row (or column) it lies on
    is ink at its lower quartile, where a row through the digit is paper
    there (a stroke that crosses a line adds to it): it stands out from the
    rows' median by more than the paper's noise. Runs of such rows are
    lines when they are thin (a fiftieth of the picture, or 3 pixels) and
    faint (below half the darkest ink); each row's lower quartile is taken
    from it, and what stays below as much again is paper. A bar of a digit
    cropped tightly, which may cross the whole picture, is as dark as the
    digit.
    """
    if min(ink.shape) < PHOTO:
        return
    faint, thin = float(ink.max()) / 2, max(3, min(ink.shape) // 50)
    for lines in (ink, ink.T):  # rows, then columns
        level = np.quantile(lines[:, :: max(1, lines.shape[1] // 1000)], 0.25, axis=1)  # a line is so all along
        above = np.flatnonzero(level > float(np.median(level)) + HAZE * spread)  # rows above the paper
        for start, stop in consecutive_runs(above):
            if stop - start <= thin and level[start:stop].max() < faint:
                band, line = lines[start:stop], level[start:stop, None]
                band -= line
                band[band < line] = 0.0  # what is left of the line (the light's slope along it, its noise) is paper


def without_shadows(ink: np.ndarray, spread: float) -> None:
    """Take a soft shadow (a hand's, a phone's) out of ``ink`` (float (h, w), the paper at 0 with noise of
    ``spread``), in place, in photos of :data:`PHOTO` pixels a side or more.

    A shadow darkens the paper gradually over a large part of the picture,
    which the plane of :func:`paper_level` does not follow. The picture is
    read on a grid of :data:`CELLS` cells along its shorter side, each cell's
    paper as the lower quartile of a sample of its pixels (:data:`SAMPLE` a side). A stroke is
    narrower than 2 * :data:`REACH` + 1 cells, so the least over as many
    cells each way, and then the most (a morphological opening), leaves what
    is wider: the shadow, which is interpolated linearly between the cells'
    centres and taken out. A digit cropped tightly, whose strokes fill whole
    cells, changes from a cell to the next by its whole darkness, where a
    shadow changes by less than :data:`SMOOTH` of it: then nothing is taken
    out. A drawing (no noise) has no shadow.
    """
    if min(ink.shape) < PHOTO or spread == 0:
        return
    size = min(ink.shape) // CELLS
    edges = [np.linspace(0, n, max(1, round(n / size)) + 1).astype(int) for n in ink.shape]
    # a sample of SAMPLE x SAMPLE pixels spread over each cell
    picks = [(cuts[:-1, None] + np.diff(cuts)[:, None] * (np.arange(SAMPLE) + 0.5) / SAMPLE).astype(int).ravel()
             for cuts in edges]
    sample = ink[np.ix_(*picks)].reshape(edges[0].size - 1, SAMPLE, edges[1].size - 1, SAMPLE)
    cells = np.quantile(sample, 0.25, axis=(1, 3))
    for extreme, fill in ((np.min, np.inf), (np.max, -np.inf)):  # the picture's edge limits the window
        cells = extreme(sliding_window_view(np.pad(cells, REACH, constant_values=fill), (2 * REACH + 1,) * 2),
                        axis=(2, 3))
    steps = [np.abs(np.diff(cells, axis=axis)).max(initial=0.0) for axis in (0, 1)]
    if max(steps) > SMOOTH * float(ink.max()):
        return
    down, across = (_tents(n, cuts) for n, cuts in zip(ink.shape, edges, strict=True))
    ink -= down @ np.maximum(cells, 0.0) @ across.T


def _tents(n: int, edges: np.ndarray) -> np.ndarray:
    """(n, cells) weights that interpolate values at the centres of cells bounded by ``edges`` linearly along a
    line of ``n`` pixels (constant beyond the first and last centres)."""
    centres = (edges[:-1] + edges[1:] - 1) / 2
    pixels = np.arange(n)
    return np.stack([np.interp(pixels, centres, one) for one in np.eye(centres.size)], axis=1)


def consecutive_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive ``indices`` (sorted ints) as half-open ``(start, stop)`` pairs."""
    breaks = np.nonzero(np.diff(indices) > 1)[0]
    starts = np.concatenate([indices[:1], indices[breaks + 1]])
    stops = np.concatenate([indices[breaks], indices[-1:]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))
