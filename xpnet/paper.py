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
TILT = 0.18  # ruled lines are looked for at slopes of up to this many rows a column (10 degrees)
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
    0 with noise of ``spread``: 0 for a drawing, whose lines are straight), in place, in pictures of
    :data:`PHOTO` pixels a side or more.

    A ruled line crosses the whole page, so the row (or column) it lies on
    is ink at its lower quartile, where a row through the digit is paper
    there (a stroke that crosses a line adds to it): it stands out from the
    rows' median by more than the noise of the paper between the lines. In a
    photo taken at a slight angle the lines are slanted, and the rows are
    read along the slope at which they vary most (:func:`_fall`), as far as
    the picture holds a quarter of each. Runs of such rows are lines when
    they are thin (a fiftieth of the picture, or 3 pixels) and faint (below
    half the darkest ink); the run's highest lower quartile is taken from
    it and from a row on each side (the line's blur), and what stays below
    as much again is paper. A bar of a digit cropped tightly, which may
    cross the whole picture, is as dark as the digit.
    """
    if min(ink.shape) < PHOTO:
        return
    faint, thin = float(ink.max()) / 2, max(3, min(ink.shape) // 50)
    for lines in (ink, ink.T):  # rows, then columns
        height, width = lines.shape
        fall = _fall(lines) if spread else np.zeros(width, int)  # a drawing's lines are straight
        cols = np.arange(0, width, max(1, width // 1000))
        beyond = int(np.abs(fall).max())  # slanted lines that leave through the top or bottom begin out there
        first = np.arange(-beyond, height + beyond)  # each slanted row's row at the middle column
        paths = first[:, None] + fall[cols]
        inside = (paths >= 0) & (paths < height)
        held = 4 * np.count_nonzero(inside, axis=1) > cols.size  # slanted rows the picture holds a quarter of
        first, paths, inside = first[held], paths[held], inside[held]
        # beyond the picture, above every value: the quartile of what the picture holds of the row
        sample = np.where(inside, lines[np.clip(paths, 0, height - 1), cols], np.inf)
        level = np.quantile(sample, 0.25, axis=1)  # a line is so all along
        paper = sample[inside.all(axis=1) & (level <= np.median(level)), :: max(1, cols.size // 100)]
        noise = _spread(np.abs(paper - np.median(paper, axis=1, keepdims=True)))  # of the rows between the lines
        above = np.flatnonzero(level > float(np.median(level)) + HAZE * noise)  # rows above the paper
        for start, stop in consecutive_runs(above):
            if stop - start <= thin and level[start:stop].max() < faint:
                line = float(level[start:stop].max())
                path = first[max(start - 1, 0) : stop + 1, None] + fall  # and the line's blur
                on = (path >= 0) & (path < height)
                at = (path[on], np.broadcast_to(np.arange(width), path.shape)[on])
                band = lines[at] - line
                band[band < line] = 0.0  # what is left of the line (the light's slope along it, its noise) is paper
                lines[at] = band


def _fall(lines: np.ndarray) -> np.ndarray:
    """How far a ruled line of ``lines`` (ink, (h, w)) lies below its row at the middle column, at each column:
    int (w,), for the slope at which the lower quartiles of the rows, so slanted, vary most (a photo taken at a
    slight angle; 0 for a straight page): up to :data:`TILT` rows a column either way, and no more than TILT
    times the height across the width. Looked for first on rows averaged in blocks about a line's width, then
    row by row near the best."""
    height, width = lines.shape
    across = (np.arange(width) - (width - 1) / 2) / width  # each column's place, in widths from the middle

    def sharpest(rows: np.ndarray, cols: np.ndarray, drops: range, block: int) -> int:
        return max(drops, key=lambda drop: _sharpness(rows, across[cols], drop, block))

    # a slanted row stays inside the picture over most of its height, so that the rows between the lines are paper
    block, reach = max(1, min(lines.shape) // 100), int(TILT * min(lines.shape))
    cols = np.linspace(0, width - 1, min(width, 24)).astype(int)
    blocks = lines[: height // block * block, cols].reshape(-1, block, cols.size).mean(axis=1)
    drop = sharpest(blocks, cols, range(-(reach // block) * block, reach + 1, block), block)
    cols = np.linspace(0, width - 1, min(width, 96)).astype(int)  # a pixel's precision across the width
    rows, step = lines[:, cols], block
    while step > 1:  # then row by row, halving the step
        step = (step + 1) // 2
        drop = sharpest(rows, cols, range(drop - step, drop + step + 1, step), 1)
    return np.rint(drop * across).astype(int)


def _sharpness(rows: np.ndarray, places: np.ndarray, drop: int, block: int) -> tuple[float, int]:
    """How much the lower quartiles of ``rows`` (h, k: k columns at ``places``, in widths from the middle, each
    row ``block`` rows of the picture) vary when read along a slant that falls ``drop`` rows across the width;
    of two alike, the straighter ranks higher."""
    at = np.clip(np.arange(rows.shape[0])[:, None] + np.rint(drop * places / block).astype(int), 0,
                 rows.shape[0] - 1)
    quartiles = np.partition(np.take_along_axis(rows, at, axis=0), places.size // 4, axis=1)[:, places.size // 4]
    return float(np.var(quartiles)), -abs(drop)


def without_shadows(ink: np.ndarray, spread: float) -> None:
    """Take a soft shadow (a hand's, a phone's) out of ``ink`` (float (h, w), the paper at 0 with noise of
    ``spread``), in place, in photos of :data:`PHOTO` pixels a side or more.

    A shadow darkens the paper gradually over a large part of the picture,
    which the plane of :func:`paper_level` does not follow. The picture is
    read on a grid of :data:`CELLS` cells along its shorter side, each cell's
    paper as the lower quartile of a sample of its pixels (:data:`SAMPLE` a
    side). A stroke is narrower than 2 * :data:`REACH` + 1 cells, so the
    least over as many cells each way, and then the most (a morphological
    opening), leaves what is wider: the shadow, which is interpolated
    linearly between the cells' centres and taken out. A digit cropped tightly, whose strokes fill whole
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
