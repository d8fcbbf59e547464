"""Your own handwriting in MNIST's form: :func:`to_mnist`.

MNIST's digits were size-normalised to fit a 20x20 box, keeping their
aspect ratio, with anti-aliasing, and then centred in a 28x28 field by their
centre of mass (LeCun, Cortes and Burges). A picture of a digit (a photo, a
scan, a drawing) is brought to the same form here, in NumPy alone, so that
``xpnet predict`` and the drawing page agree on every input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .paper import HAZE, PHOTO, consecutive_runs, paper_level, without_ruled_lines, without_shadows

FIELD = 28  # MNIST's images are FIELD x FIELD
BOX = 20  # the digit's longer side in MNIST's form
CENTRE = 14.0  # where MNIST's centres of mass lie (row and column, in pixel indices; 13.99 and 14.01 on average)
INK = 0.1  # a pixel darker (on light paper) than this fraction of the range from paper to ink is paper
CONTRAST = 0.1  # a picture whose darkest and lightest pixels differ by less holds no digit
SOLID = 0.9  # a frame's side is ink along at least this fraction of its length
FINE = 4  # strokes are measured and thinned at this many pixels a pixel of MNIST's 20-pixel box
STROKE = 2.2  # thick and thin strokes are brought to this width (in pixels of that box; MNIST's median is 2.0)
THICK = 3.6  # strokes wider than this are thick (98.5% of MNIST's test digits are within it)
THIN = 0.85  # strokes narrower than this are thin (a fine pen on a large picture; all 70,000 of MNIST's are wider)
LINE = 0.25  # a thin stroke's pixels hold at least this fraction of its darkest, once resampled
SPECK = 0.02  # a run of rows (or columns) apart from the rest with less of the ink than this is a speck
NOISE = 5  # a pixel is ink only above this many spreads of the paper's noise (a photo's; a drawing has none)


def to_mnist(image: np.ndarray) -> np.ndarray:
    """The digit in ``image`` as MNIST draws one: uint8 (28, 28), a light digit on black.

    ``image``: (h, w) gray levels, uint8 (0 to 255) or floating point in
    [0, 1]; dark on light (a pen on paper) or light on dark (MNIST's own
    form), told apart by the picture's corners (a tilted page's edge). The
    steps: the page alone, where a photo shows the table around it (bands
    cut off, see :func:`on_the_page`, and wedges left out, see
    :func:`tilted_page`); gray levels to [0, 1] with the paper at 0 and the
    darkest ink at 1 (the paper's level and its noise read from the border, see
    :func:`paper_level`; a soft shadow and a ruled page's lines taken out,
    see :func:`without_shadows` and :func:`without_ruled_lines`, in
    :mod:`xpnet.paper`; inside a frame drawn around the digit, if
    there is one, see :func:`inside_frame`);
    cropped to the box of the pixels with ink (specks apart from the digit left
    out, see :func:`_ink_span`); strokes wider than nearly all of MNIST's
    thinned and those narrower than all of MNIST's widened (see
    :func:`_restroked`); scaled (by area averaging) so that the longer side
    is 20 pixels; placed in the 28x28 field with its centre of mass nearest
    the field's. Raises ValueError for a picture with
    no digit on it (a blank page) or values that are not gray levels.
    """
    ink = _unit_gray(image)  # a new array, worked on in place: a photo may have millions of pixels
    ink = ink[on_the_page(ink)]
    page = tilted_page(ink)
    border = None if page is None else _edge(page)
    if float(np.mean(np.stack(_corners(ink)) if page is None else ink[border])) > 0.5:  # light paper: dark ink
        np.subtract(1.0, ink, out=ink)
    paper, noise = paper_level(ink, border)
    ink -= paper
    del paper
    if page is not None:
        ink[~page] = 0.0  # the table is not ink
    without_shadows(ink, noise)
    if float(ink.max()) < max(CONTRAST, NOISE * noise):
        raise ValueError("holds no digit: the picture is blank (no pixel stands out from the background)")
    without_ruled_lines(ink, noise)
    ink = ink[inside_frame(ink > max(INK * float(ink.max()), NOISE * noise))]
    darkest = float(ink.max())  # the digit's darkest ink, where a frame was darker
    ink[ink <= HAZE * noise] = 0.0  # the paper's noise, where there is any, is paper
    ink /= darkest
    gray = np.clip(ink, 0.0, 1.0, out=ink)
    faint = max(INK, NOISE * noise / darkest)  # the ink of the faintest pixel that counts
    inked = gray > faint
    digit = gray[_ink_span(inked.sum(axis=1)), _ink_span(inked.sum(axis=0))]
    digit = _resampled(_restroked(digit, faint), BOX)
    size = digit.shape
    field = np.zeros((FIELD, FIELD))
    mass = digit.sum()
    centre = [float(np.arange(n) @ digit.sum(axis=1 - axis)) / mass for axis, n in enumerate(size)]
    top, left = (min(max(round(CENTRE - c), 0), FIELD - n) for c, n in zip(centre, size, strict=True))
    field[top : top + size[0], left : left + size[1]] = digit
    return np.rint(field * 255).astype(np.uint8)


def _ink_span(counts: np.ndarray) -> slice:
    """The rows (or columns) that the digit spans, from each one's count of ink pixels: from the first that holds
    ink to the last, once the runs at either end that lie apart from the rest and hold less than SPECK of the ink
    are dropped (a speck of dust or a stray dot, which would otherwise stretch the box and shrink the digit)."""
    runs = consecutive_runs(np.nonzero(counts)[0])
    ink = [int(counts[start:stop].sum()) for start, stop in runs]
    speck = SPECK * sum(ink)
    first, last = 0, len(runs) - 1
    while first < last and ink[first] < speck:
        first += 1
    while last > first and ink[last] < speck:
        last -= 1
    return slice(runs[first][0], runs[last][1])


def stroke_width(digit: np.ndarray) -> float:
    """The mean width of ``digit``'s strokes (gray levels, ink > 0), in its own pixels: twice its ink over the
    length of its edges (a stroke of width w and length l: w l of ink, 2 l of edge), both read from the gray
    levels, so that anti-aliased edges count for what they hold: the same for uint8 pixels as for their floats."""
    framed = np.pad(np.asarray(digit, dtype=np.float64), 1)  # ink at the picture's edge has an edge there too
    edges = np.abs(np.diff(framed, axis=0)).sum() + np.abs(np.diff(framed, axis=1)).sum()
    return 2.0 * float(digit.sum()) / float(edges) if edges else 0.0


def _restroked(digit: np.ndarray, faint: float) -> np.ndarray:
    """``digit`` (cropped to its ink, gray levels in [0, 1]) with strokes wider than THICK (a marker; a small
    digit drawn with a broad pen) or narrower than THIN (a fine pen on a large picture, which resampling would
    leave a faint thread) brought to STROKE, at FINE pixels a pixel of MNIST's box and cropped to the pixels
    above ``faint`` again; otherwise ``digit`` itself. Thick strokes are eroded (the least of each square), with
    the strokes thinner than the square kept as they were (what an opening takes away); thin ones are drawn
    again with a round pen (see :func:`_widened`)."""
    fine = _resampled(digit, FINE * BOX)
    wide = stroke_width(fine) / FINE
    if THIN <= wide <= THICK:
        return digit
    if wide > THICK:
        reach = round((wide - STROKE) * FINE / 2)
        eroded = _extreme(fine, reach, np.min)
        fine = np.maximum(eroded, fine - _extreme(eroded, reach, np.max))
    else:
        fine = _widened(fine)
    rows, cols = np.nonzero(fine > faint)
    return digit if rows.size == 0 else fine[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _widened(fine: np.ndarray) -> np.ndarray:
    """A thin stroke drawn again along its own pixels (those of at least LINE of its darkest) with a round pen
    that makes it STROKE wide: 1 within the pen's reach of them, 0 beyond, on a frame widened by that reach
    (the resampling to MNIST's box then smooths the edges, as MNIST's anti-aliasing did)."""
    line = fine >= LINE * float(fine.max())
    reach = max(1, round((STROKE * FINE - stroke_width(line)) / 2))
    offsets = np.arange(-reach, reach + 1) ** 2
    pen = np.add.outer(offsets, offsets) <= reach * reach
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(line, 2 * reach), pen.shape)
    return np.any(windows & pen, axis=(2, 3)).astype(float)


def _extreme(image: np.ndarray, reach: int, extreme: Callable[..., np.ndarray]) -> np.ndarray:
    """The least (``np.min``) or greatest (``np.max``) value of each square of side 2 reach + 1 (zeros beyond)."""
    for axis in (0, 1):
        padded = np.pad(image, [(reach, reach) if a == axis else (0, 0) for a in (0, 1)])
        image = extreme(np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1, axis=axis), axis=-1)
    return image


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
    unlike = _unlike_the_page(gray)
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


def tilted_page(gray: np.ndarray) -> np.ndarray | None:
    """Where the page lies in a photo of a tilted page, which shows the table in wedges along the picture's sides
    (the bands beside a straight page are cut by :func:`on_the_page`): bool (h, w), or None where no wedge is
    found or the page is less than half the picture.

    The page's level is the picture's median, the table's that of the
    corner furthest from it. Seen from a side, a wedge is the leading run of
    pixels unlike the page on each row, from a corner of the picture (or a
    band of table) on. As the page is convex, the runs' lengths are a convex
    function of the row (a wedge, a trapezoid, or two wedges meeting at the
    page's corner) within a few pixels (its edge's steps, the noise and the
    blur), over as many rows as the margin; and the page's margin lies
    inside them, paper for a few pixels on every row where the page is wider
    than that. A stroke of a digit that reaches the side is not convex (a
    bump, or a bar that ends), or has ink inside it (the rest of the digit).
    The page leaves out the pixels of its edge that the table's blur reaches.
    """
    if min(gray.shape) < PHOTO:
        return None
    bend = max(4, min(gray.shape) // 100)  # pixels that a straight edge's runs may bend by: its steps, noise, blur
    level = _median(gray)
    corners = [float(np.median(corner)) for corner in _corners(gray, bend)]  # a tilted page leaves them to the table
    table_level = max(corners, key=lambda corner: abs(corner - level))
    if abs(table_level - level) < CONTRAST:
        return None
    halfway = (level + table_level) / 2
    unlike = gray < halfway if table_level < level else gray > halfway
    margin = max(2 * bend, min(gray.shape) // 50)
    page = np.ones(gray.shape, bool)
    # pairs of neighbours along the rows (and down the columns): a run goes on while either of a pair is table, and
    # the margin holds no pair that both are: one pixel that the noise moves past halfway changes neither
    either, both = unlike[:, :-1] | unlike[:, 1:], unlike[:, :-1] & unlike[:, 1:]
    either_down, both_down = (unlike[:-1] | unlike[1:]).T, (unlike[:-1] & unlike[1:]).T
    for table, inked, on_page in ((either, both, page), (either[:, ::-1], both[:, ::-1], page[:, ::-1]),
                                  (either_down, both_down, page.T),
                                  (either_down[:, ::-1], both_down[:, ::-1], page.T[:, ::-1])):
        # seen from the left, right, top and bottom
        runs, facing = _leading_runs(table), _leading_runs(table[:, ::-1])
        width = table.shape[1]
        partial = np.flatnonzero(runs < width)  # rows that are table throughout are bands: at the ends, if any
        if partial.size == 0 or partial[-1] - partial[0] >= partial.size:
            continue
        wedge = runs[partial[0] : partial[-1] + 1]
        if (np.count_nonzero(wedge) < margin or not (wedge[0] or wedge[-1])
                or (np.diff(wedge, 2) < -bend).any()):
            continue
        rows = np.flatnonzero(runs)
        wide = rows[width - runs[rows] - facing[rows] >= 2 * margin]
        if inked[wide[:, None], runs[wide, None] + np.arange(margin)].any():
            continue
        cut = np.where(runs > 0, np.minimum(runs + bend, width + 1), 0)
        on_page[np.arange(width + 1) < cut[:, None]] = False
    return page if not page.all() and 2 * np.count_nonzero(page) >= page.size else None  # the page is most of it


def _edge(mask: np.ndarray) -> np.ndarray:
    """The first and last pixels of ``mask`` (bool (h, w)) on each of its rows and columns: bool (h, w)."""
    edge = np.zeros_like(mask)
    for lines, marks in ((mask, edge), (mask.T, edge.T)):
        rows = np.flatnonzero(lines.any(axis=1))
        marks[rows, np.argmax(lines[rows], axis=1)] = True
        marks[rows, lines.shape[1] - 1 - np.argmax(lines[rows, ::-1], axis=1)] = True
    return edge


def _unlike_the_page(gray: np.ndarray) -> np.ndarray:
    """Where a picture (``gray``, (h, w)) is unlike its page, whose level is its median: further from it than
    half the way to the picture's furthest value (table, or ink); bool (h, w)."""
    level = _median(gray)
    reach = max(float(gray.max()) - level, level - float(gray.min()))
    return (gray > level + reach / 2) | (gray < level - reach / 2)


def _median(gray: np.ndarray) -> float:
    """The median of a picture's pixels, from a sample of a quarter million or more."""
    step = max(1, math.isqrt(gray.size // 250_000))
    return float(np.median(gray[::step, ::step]))


def _leading_runs(flags: np.ndarray) -> np.ndarray:
    """How many of each row of ``flags`` (bool, 2-d) are true before its first false: int (rows,)."""
    return np.where(flags.all(axis=1), flags.shape[1], np.argmin(flags, axis=1))


def _leading(flags: np.ndarray) -> int:
    """How many of ``flags`` (bool, 1-d) are true before the first false."""
    return int(_leading_runs(flags[None, :])[0])


def _corners(gray: np.ndarray, size: int | None = None) -> list[np.ndarray]:
    """The picture's four corner squares of ``size`` pixels a side (default: a tenth of its shorter side, at least
    a pixel)."""
    k = max(1, min(gray.shape) // 10) if size is None else size
    return [gray[:k, :k], gray[:k, -k:], gray[-k:, :k], gray[-k:, -k:]]


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
    rows = consecutive_runs(np.nonzero(mask.sum(axis=1) >= mask.shape[1] / 2)[0])
    cols = consecutive_runs(np.nonzero(mask.sum(axis=0) >= mask.shape[0] / 2)[0])
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


def _resampled(digit: np.ndarray, longer: int) -> np.ndarray:
    """``digit`` scaled by area averaging so that its longer side is ``longer`` pixels (its aspect kept)."""
    height, width = digit.shape
    scale = longer / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return _area_weights(height, size[0]) @ digit @ _area_weights(width, size[1]).T


def _area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) weights that resample a line of ``source`` pixels to ``target`` by area averaging:
    output pixel i is the mean of the input over [i, i + 1) * source / target, input pixels counted by overlap."""
    edges = np.arange(target + 1) * (source / target)
    start, stop = edges[:-1, None], edges[1:, None]
    pixel = np.arange(source)[None, :]
    overlap = np.clip(np.minimum(stop, pixel + 1) - np.maximum(start, pixel), 0.0, None)
    return overlap / (source / target)
