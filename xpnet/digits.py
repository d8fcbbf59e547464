"""Your own handwriting in MNIST's form: :func:`to_mnist`.

MNIST's digits were size-normalised to fit a 20x20 box, keeping their
aspect ratio, with anti-aliasing, and then centred in a 28x28 field by their
centre of mass (LeCun, Cortes and Burges). A picture of a digit (a photo, a
scan, a drawing) is brought to the same form here, in NumPy alone, so that
``xpnet predict`` and the drawing page agree on every input.
"""

from __future__ import annotations

import math

import numpy as np

FIELD = 28  # MNIST's images are FIELD x FIELD
BOX = 20  # the digit's longer side in MNIST's form
CENTRE = 14.0  # where MNIST's centres of mass lie (row and column, in pixel indices; 13.99 and 14.01 on average)
INK = 0.1  # a pixel darker (on light paper) than this fraction of the range from paper to ink is paper
CONTRAST = 0.1  # a picture whose darkest and lightest pixels differ by less holds no digit
SOLID = 0.9  # a frame's side is ink along at least this fraction of its length
NOISE = 5  # a pixel is ink only above this many spreads of the paper's noise (a photo's; a drawing has none)
HAZE = 3  # and paper below this many
PHOTO = 100  # pictures with fewer pixels a side are taken to show no table around the page
PASSES = 5  # fits of the paper's plane at most, each to the border pixels that lie near the last


def to_mnist(image: np.ndarray) -> np.ndarray:
    """The digit in ``image`` as MNIST draws one: uint8 (28, 28), a light digit on black.

    ``image``: (h, w) gray levels, uint8 (0 to 255) or floating point in
    [0, 1]; dark on light (a pen on paper) or light on dark (MNIST's own
    form), told apart by the picture's corners. The steps: the page alone,
    where a photo shows the table around it (:func:`on_the_page`); gray
    levels to [0, 1] with the paper at 0 and the darkest ink at 1 (the
    paper's level and its noise read from the border, see
    :func:`paper_level`; inside a frame drawn around the digit, if there is
    one, see :func:`inside_frame`);
    cropped to the box of the pixels with ink; scaled (by area averaging) so
    that the longer side is 20 pixels; placed in the 28x28 field with its
    centre of mass nearest the field's. Raises ValueError for a picture with
    no digit on it (a blank page) or values that are not gray levels.
    """
    ink = _unit_gray(image)  # a new array, worked on in place: a photo may have millions of pixels
    ink = ink[on_the_page(ink)]
    if float(np.mean(_corners(ink))) > 0.5:  # light paper: the digit is the dark part
        np.subtract(1.0, ink, out=ink)
    paper, noise = paper_level(ink)
    ink -= paper
    del paper
    if float(ink.max()) < max(CONTRAST, NOISE * noise):
        raise ValueError("holds no digit: the picture is blank (no pixel stands out from the background)")
    ink = ink[inside_frame(ink > max(INK * float(ink.max()), NOISE * noise))]
    darkest = float(ink.max())  # the digit's darkest ink, where a frame was darker
    ink[ink <= HAZE * noise] = 0.0  # the paper's noise, where there is any, is paper
    ink /= darkest
    gray = np.clip(ink, 0.0, 1.0, out=ink)
    rows, cols = np.nonzero(gray > max(INK, NOISE * noise / darkest))
    digit = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = digit.shape
    scale = BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    digit = _area_weights(height, size[0]) @ digit @ _area_weights(width, size[1]).T
    field = np.zeros((FIELD, FIELD))
    mass = digit.sum()
    centre = [float(np.arange(n) @ digit.sum(axis=1 - axis)) / mass for axis, n in enumerate(size)]
    top, left = (min(max(round(CENTRE - c), 0), FIELD - n) for c, n in zip(centre, size, strict=True))
    field[top : top + size[0], left : left + size[1]] = digit
    return np.rint(field * 255).astype(np.uint8)


def on_the_page(gray: np.ndarray) -> tuple[slice, slice]:
    """Where the page lies in a picture (``gray``, (h, w)) that shows what is around it: the rows and columns
    left once the bands of table along its sides are cut off, or the whole picture.

    Only a photo shows a table: a picture of :data:`PHOTO` pixels a side or
    more (a digit a few pixels wide, cropped tightly, is mostly ink, and its
    paper would pass for a table). The page is most of the picture: its
    level is the median, and what is left of the picture is half of it or
    more. A band is a run of outermost rows (or columns) each more than half
    unlike the page (further from its level than half the way to the
    picture's furthest value), and it is table, not a stroke of the digit,
    when the line inside it is paper throughout: a margin of the page. A
    digit cropped tightly, whose 7 has its bar along the top, goes on below
    the bar, and is kept whole.
    """
    whole = (slice(None), slice(None))
    if min(gray.shape) < PHOTO:
        return whole
    step = max(1, math.isqrt(gray.size // 250_000))  # a sample of the picture is enough for a median
    level = float(np.median(gray[::step, ::step]))
    reach = max(float(gray.max()) - level, level - float(gray.min()))
    unlike = (gray > level + reach / 2) | (gray < level - reach / 2)  # table, or ink
    rows = 2 * np.count_nonzero(unlike, axis=1) > unlike.shape[1]
    cols = 2 * np.count_nonzero(unlike, axis=0) > unlike.shape[0]
    bands = (_leading(rows), _leading(rows[::-1]), _leading(cols), _leading(cols[::-1]))  # top, bottom, left, right
    top, bottom, left, right = bands[0], rows.size - bands[1], bands[2], cols.size - bands[3]
    if not any(bands) or top >= bottom or left >= right or 2 * (bottom - top) * (right - left) < gray.size:
        return whole
    page = unlike[top:bottom, left:right]
    margins = (page[0], page[-1], page[:, 0], page[:, -1])
    if any(band and margin.any() for band, margin in zip(bands, margins, strict=True)):
        return whole
    return (slice(top, bottom), slice(left, right)) if page.any() else whole


def _leading(flags: np.ndarray) -> int:
    """How many of ``flags`` (bool, 1-d) are true before the first false."""
    return int(np.argmin(flags)) if not flags.all() else flags.size


def paper_level(gray: np.ndarray) -> tuple[float | np.ndarray, float]:
    """The paper's level under each pixel of ``gray`` (float (h, w), ink above the paper) and the spread of its
    noise, read from the paper on the picture's border.

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
    rows, cols = np.nonzero(_border(gray.shape))
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


def _corners(gray: np.ndarray) -> np.ndarray:
    """The pixels of the picture's four corner squares, each a tenth of its shorter side (at least a pixel)."""
    k = max(1, min(gray.shape) // 10)
    return np.concatenate([gray[:k, :k], gray[:k, -k:], gray[-k:, :k], gray[-k:, -k:]], axis=None)


def _border(shape: tuple[int, ...]) -> np.ndarray:
    """The outermost rows and columns of a picture of ``shape``, as a bool mask."""
    border = np.zeros(shape, bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    return border


def inside_frame(mask: np.ndarray) -> tuple[slice, slice]:
    """Where a picture's digit lies inside a frame drawn around it, given the picture's ink (``mask``, bool
    (h, w)): the rows and columns inside the frame, or the whole picture if it has none.

    A plotted figure (``xpnet show -o``), a form's box or a framed scan puts
    the digit in a rectangle of ink lines, with a title or other marks
    outside it: cropped to its ink, the whole would be the digit. A frame is
    taken to be the outermost rows and columns that are each ink over half
    the picture or more, when they close a rectangle with solid sides and
    leave a ring of paper between themselves and some ink inside. A digit
    drawn as a box (a square 0) has no ink inside its box, and one whose
    strokes touch a box around it is kept whole.
    """
    whole = (slice(None), slice(None))
    rows = _runs(np.nonzero(mask.sum(axis=1) >= mask.shape[1] / 2)[0])
    cols = _runs(np.nonzero(mask.sum(axis=0) >= mask.shape[0] / 2)[0])
    if len(rows) < 2 or len(cols) < 2:
        return whole
    (top, inner_top), (inner_bottom, bottom) = rows[0], rows[-1]
    (left, inner_left), (inner_right, right) = cols[0], cols[-1]
    sides = (mask[top:inner_top, left:right], mask[inner_bottom:bottom, left:right],
             mask[top:bottom, left:inner_left].T, mask[top:bottom, inner_right:right].T)
    if not all(side.any(axis=0).mean() >= SOLID for side in sides):
        return whole
    # a pixel more on each side: a drawn line's anti-aliasing
    inside = (slice(inner_top + 1, inner_bottom - 1), slice(inner_left + 1, inner_right - 1))
    within = mask[inside]
    if within.size == 0 or not within.any():
        return whole
    if np.concatenate([within[0], within[-1], within[:, 0], within[:, -1]]).any():
        return whole
    return inside


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive ``indices`` (sorted ints) as half-open ``(start, stop)`` pairs."""
    breaks = np.nonzero(np.diff(indices) > 1)[0]
    starts = np.concatenate([indices[:1], indices[breaks + 1]])
    stops = np.concatenate([indices[breaks], indices[-1:]]) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _unit_gray(image: np.ndarray) -> np.ndarray:
    """``image`` as float64 gray levels in [0, 1]; ValueError for anything else."""
    image = np.asarray(image)
    if image.ndim != 2 or 0 in image.shape:
        raise ValueError(f"has shape {image.shape}: expected one picture, (height, width)")
    if image.dtype == np.uint8:
        return image / 255.0
    if image.dtype.kind != "f":
        raise ValueError(f"holds {image.dtype} values: expected uint8 pixels (0 to 255) or floats in [0, 1]")
    if not np.all((image >= 0) & (image <= 1)):  # NaN fails this too
        raise ValueError("holds values outside [0, 1] (or NaN): float pixels go from 0 to 1")
    return image.astype(np.float64)


def _area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) weights that resample a line of ``source`` pixels to ``target`` by area averaging:
    output pixel i is the mean of the input over [i, i + 1) * source / target, input pixels counted by overlap."""
    edges = np.arange(target + 1) * (source / target)
    start, stop = edges[:-1, None], edges[1:, None]
    pixel = np.arange(source)[None, :]
    overlap = np.clip(np.minimum(stop, pixel + 1) - np.maximum(start, pixel), 0.0, None)
    return overlap / (source / target)
