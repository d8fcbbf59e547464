"""Your own handwriting in MNIST's form: :func:`to_mnist`.

MNIST's digits were size-normalised to fit a 20x20 box, keeping their
aspect ratio, with anti-aliasing, and then centred in a 28x28 field by their
centre of mass (LeCun, Cortes and Burges). A picture of a digit (a photo, a
scan, a drawing) is brought to the same form here, in NumPy alone, so that
``xpnet predict`` and the drawing page agree on every input.
"""

from __future__ import annotations

import numpy as np

FIELD = 28  # MNIST's images are FIELD x FIELD
BOX = 20  # the digit's longer side in MNIST's form
CENTRE = 14.0  # where MNIST's centres of mass lie (row and column, in pixel indices; 13.99 and 14.01 on average)
INK = 0.1  # a pixel darker (on light paper) than this fraction of the range from paper to ink is paper
CONTRAST = 0.1  # a picture whose darkest and lightest pixels differ by less holds no digit
SOLID = 0.9  # a frame's side is ink along at least this fraction of its length


def to_mnist(image: np.ndarray) -> np.ndarray:
    """The digit in ``image`` as MNIST draws one: uint8 (28, 28), a light digit on black.

    ``image``: (h, w) gray levels, uint8 (0 to 255) or floating point in
    [0, 1]; dark on light (a pen on paper) or light on dark (MNIST's own
    form), told apart by the picture's border. The steps: gray levels to
    [0, 1] with the paper at 0 and the darkest ink at 1 (inside a frame
    drawn around the digit, if there is one: see :func:`inside_frame`);
    cropped to the box of the pixels with ink; scaled (by area averaging) so
    that the longer side is 20 pixels; placed in the 28x28 field with its
    centre of mass nearest the field's. Raises ValueError for a picture with no digit on it
    (a blank page) or values that are not gray levels.
    """
    gray = _unit_gray(image)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    if paper > 0.5:  # light paper: the digit is the dark part
        gray, paper = 1.0 - gray, 1.0 - paper
    ink = float(gray.max())
    if ink - paper < CONTRAST:
        raise ValueError("holds no digit: the picture is blank (no pixel stands out from the background)")
    gray = gray[inside_frame(gray > paper + INK * (ink - paper))]
    ink = float(gray.max())  # the digit's darkest ink, where a frame was darker
    gray = np.clip((gray - paper) / (ink - paper), 0.0, 1.0)
    rows, cols = np.nonzero(gray > INK)
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
