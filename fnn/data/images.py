"""Small image utilities: grayscale file I/O, MNIST-style preprocessing, shifts, test pictures.

Images here are 2-D arrays (H, W) of gray levels, float32 in [0, 1] with 0
black; batches are (N, ..., H, W). Only numpy and matplotlib are used:
matplotlib reads PNG itself and hands every other format (JPEG) to Pillow.

:func:`to_mnist_input` repeats what was done to build MNIST (LeCun et al.):
the digit is made bright on black, cropped to its ink, scaled so its longer
side is 20 px (anti-aliased, aspect ratio kept), and put in a 28x28 field
with its centre of mass at the field's centre.
"""
import importlib.util
import numbers
import os

import numpy as np

from .._validate import describe

__all__ = [
    "read_image", "write_image", "to_mnist_input", "is_dark_on_light", "resize_image",
    "shift_images", "random_shifts", "make_bricks", "make_shapes",
    "MNIST_SIZE", "MNIST_BOX", "MNIST_CENTRE",
]

MNIST_SIZE = 28
MNIST_BOX = 20
# Mean centre of mass (row, column) of the MNIST training digits in pixel-index
# coordinates, measured: 14.00 and 14.01 (std 0.29). Not 13.5, the geometric middle.
MNIST_CENTRE = 14.0
# Relative ink level (0 background .. 1 darkest stroke) above which a pixel
# counts as ink for the bounding box; fainter pixels are anti-aliasing or paper.
INK_THRESHOLD = 0.25
# Relative levels below this are set to 0 first: paper texture and JPEG noise.
NOISE_FLOOR = 0.1
# ITU-R BT.601 luma weights, the ones Pillow's "L" conversion uses.
LUMA = (0.299, 0.587, 0.114)


# ---------------------------------------------------------------- file I/O

def _pillow_available():
    return importlib.util.find_spec("PIL") is not None


def _to_unit_float(a, path):
    """Pixel array of any dtype from imread -> float64 in [0, 1]."""
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if a.dtype.kind == "u":
        return a.astype(np.float64) / np.iinfo(a.dtype).max
    if a.dtype.kind == "i":
        top = max(int(a.max()), 1) if a.size else 1
        return np.clip(a.astype(np.float64) / top, 0.0, 1.0)
    if a.dtype.kind == "f":
        return np.clip(a.astype(np.float64), 0.0, 1.0)
    raise ValueError(f"{path}: pixels have dtype {a.dtype}; expected integer or float pixel values")


def _to_gray(rgb):
    """(H, W, 3) -> (H, W); exact for pixels that already are gray (R == G == B)."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0]
    r, g, b = LUMA
    return r * rgb[..., 0] + g * rgb[..., 1] + b * rgb[..., 2]


def read_image(path):
    """A PNG or JPEG file -> float32 (H, W) grayscale in [0, 1] (0 black).

    RGB is turned to gray with the BT.601 luma weights; an alpha channel is
    composited on white (a transparent background reads as paper). uint8 and
    uint16 files are scaled by 255 and 65535; float PNG data is used as is.
    JPEG needs Pillow (matplotlib reads only PNG on its own): without it a
    ``ValueError`` names the file and suggests converting it to PNG.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image file {path} does not exist")
    import matplotlib.image

    is_png = path.lower().endswith(".png")
    if not is_png and not _pillow_available():
        raise ValueError(
            f"cannot read {path}: matplotlib reads formats other than PNG (such as JPEG) only through Pillow, "
            f"which is not installed. Convert the file to PNG and pass that instead"
        )
    try:
        raw = np.asarray(matplotlib.image.imread(path))
    except Exception as e:  # Pillow and matplotlib raise many types for a bad file
        raise ValueError(f"could not read {path} as an image ({type(e).__name__}: {e}); "
                         f"expected a PNG or JPEG file") from e
    a = _to_unit_float(raw, path)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] in (2, 4):
        gray = a[..., 0] if a.shape[2] == 2 else _to_gray(a[..., :3])
        alpha = a[..., -1]
        a = gray if np.all(alpha == 1.0) else gray * alpha + (1.0 - alpha)
    elif a.ndim == 3 and a.shape[2] == 3:
        a = _to_gray(a)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{path}: decoded pixels have shape {a.shape}; expected (H, W) gray or (H, W, 3/4) colour")
    return a.astype(np.float32)


def _require_image(name, image):
    """A non-empty real 2-D array with finite values."""
    if not isinstance(image, np.ndarray) or image.dtype.kind not in "biuf":
        raise ValueError(f"{name} has {describe(image)}; expected a 2-D numpy array of gray levels (H, W)")
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"{name} has shape {image.shape}; expected 2 axes (H, W), both >= 1")
    if image.dtype.kind == "f" and not np.all(np.isfinite(image)):
        raise ValueError(f"{name} has {describe(image)} with nan or inf values; expected finite gray levels")


def write_image(path, image, *, vmin=None, vmax=None):
    """Save a 2-D array (H, W) as an 8-bit grayscale PNG; returns the (vmin, vmax) mapped to black and white.

    Without ``vmin``/``vmax``, an image inside [0, 1] is written as is and
    any other is stretched from its own min..max (a constant image is black).
    Levels are rounded to the nearest of 256, so values k/255 read back exactly.
    """
    _require_image("image", image)
    a = image.astype(np.float64)
    if vmin is None and vmax is None and a.min() >= 0.0 and a.max() <= 1.0:
        lo, hi = 0.0, 1.0
    else:
        lo = float(a.min()) if vmin is None else float(vmin)
        hi = float(a.max()) if vmax is None else float(vmax)
    scale = 1.0 / (hi - lo) if hi > lo else 0.0
    levels = np.rint(np.clip((a - lo) * scale, 0.0, 1.0) * 255).astype(np.uint8)
    import matplotlib.image

    # An (H, W, 3) uint8 array is written as it is; a 2-D one would go through a colormap that floors levels.
    matplotlib.image.imsave(os.fspath(path), np.repeat(levels[:, :, None], 3, axis=2), format="png")
    return lo, hi


# ---------------------------------------------------------------- resampling

def _resample_matrix(n_in, n_out):
    """(n_out, n_in) weights, rows summing to 1: area averaging to shrink, bilinear to enlarge.

    Area averaging gives each output pixel the mean of the input span it
    covers (partial pixels weighted by overlap), which is how a camera or
    MNIST's anti-aliasing would see the smaller grid; bilinear interpolation
    places output pixel centres at (i + 0.5) * n_in / n_out - 0.5.
    """
    scale = n_in / n_out
    if n_out <= n_in:
        lo = np.arange(n_out)[:, None] * scale
        j = np.arange(n_in)[None, :]
        overlap = np.minimum(lo + scale, j + 1) - np.maximum(lo, j)
        return np.clip(overlap, 0.0, None) / scale
    src = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0.0, n_in - 1)
    left = np.floor(src).astype(np.int64)
    right = np.minimum(left + 1, n_in - 1)
    frac = src - left
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, left), 1.0 - frac)
    np.add.at(m, (rows, right), frac)
    return m


def resize_image(image, height, width):
    """image (H, W) -> float64 (height, width), resampling each axis by area averaging or bilinearly."""
    _require_image("image", image)
    for name, n in (("height", height), ("width", width)):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{name} is {n!r}; expected a positive integer")
    rows = _resample_matrix(image.shape[0], int(height))
    cols = _resample_matrix(image.shape[1], int(width))
    return rows @ image.astype(np.float64) @ cols.T


# ---------------------------------------------------------------- MNIST-style input

def _border(image):
    """The pixels of the outer frame, about 1/16 of the shorter side thick (at least 1)."""
    t = max(1, min(image.shape) // 16)
    return np.concatenate([image[:t].ravel(), image[-t:].ravel(), image[:, :t].ravel(), image[:, -t:].ravel()])


def is_dark_on_light(image):
    """True when image (H, W) shows dark ink on a light background (pen on paper).

    The background is taken as the median of the border; it is light when it
    sits above the middle of the image's range. This works for any contrast
    and however little of the picture is ink (where comparing the border
    median with the overall median would see background in both).
    """
    _require_image("image", image)
    a = image.astype(np.float64)
    return bool(np.median(_border(a)) > 0.5 * (a.min() + a.max()))


def _centre_of_mass(a):
    total = a.sum()
    return (a.sum(axis=1) @ np.arange(a.shape[0])) / total, (a.sum(axis=0) @ np.arange(a.shape[1])) / total


def to_mnist_input(image, *, mean=0.0, std=1.0):
    """A drawing of a digit, (H, W) of any size and polarity -> float32 (1, 1, 28, 28) as MNIST prepares digits.

    1. Polarity: dark-on-light drawings are inverted so the ink is bright on black.
    2. The background level (border median) becomes 0 and the strongest ink 1;
       levels under ``NOISE_FLOOR`` are zeroed (paper texture, JPEG noise).
    3. Crop to the bounding box of the ink (levels above ``INK_THRESHOLD``).
    4. Resize so the longer side is 20 px, keeping the aspect ratio.
    5. Paste into a 28x28 black field, shifted by whole pixels so the centre
       of mass is at (14, 14), where MNIST digits have theirs.
    6. Return ``(pixels - mean) / std`` with pixels in [0, 1]: pass the
       normalisation the network was trained with.

    Raises ``ValueError`` for an image without contrast (no ink to find).
    """
    _require_image("image", image)
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} is {value!r}; expected a finite real number")
    if std <= 0:
        raise ValueError(f"std is {std!r}; expected a number > 0")
    a = image.astype(np.float64)
    if a.max() == a.min():
        raise ValueError(f"image has shape {image.shape} and every pixel equals {a.min():g}; expected a drawing "
                         f"with ink on a background")
    if is_dark_on_light(a):
        a = a.max() - a
    background = np.median(_border(a))
    contrast = a.max() - background
    if contrast <= 0:
        raise ValueError(f"image has shape {image.shape} and no pixel is brighter than its background "
                         f"({background:g}); expected a drawing with ink")
    ink = np.clip((a - background) / contrast, 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]

    h, w = ink.shape
    longest = max(h, w)
    h, w = max(1, round(h * MNIST_BOX / longest)), max(1, round(w * MNIST_BOX / longest))
    box = resize_image(ink, h, w)
    box /= box.max()  # thin strokes fade when shrunk; MNIST strokes always reach full intensity

    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE))
    top, left = (MNIST_SIZE - h) // 2, (MNIST_SIZE - w) // 2
    canvas[top:top + h, left:left + w] = box
    cy, cx = _centre_of_mass(canvas)
    # Whole-pixel shifts keep the strokes sharp; clipping keeps the digit on the field.
    dy = int(np.clip(np.rint(MNIST_CENTRE - cy), -top, MNIST_SIZE - top - h))
    dx = int(np.clip(np.rint(MNIST_CENTRE - cx), -left, MNIST_SIZE - left - w))
    canvas = shift_images(canvas, dy, dx)
    out = (canvas - float(mean)) / float(std)
    return out.astype(np.float32).reshape(1, 1, MNIST_SIZE, MNIST_SIZE)


# ---------------------------------------------------------------- shifts

def _require_shift(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} is {value!r}; expected an integer number of pixels")
    return int(value)


def _require_batch(name, x, min_ndim, letters):
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} has {describe(x)}; expected a numpy array {letters}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} has shape {x.shape}; expected at least {min_ndim} axes {letters}")


def _shift_into(out, x, dy, dx):
    H, W = x.shape[-2:]
    if abs(dy) >= H or abs(dx) >= W:
        return
    src_rows, dst_rows = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    src_cols, dst_cols = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    out[..., dst_rows, dst_cols] = x[..., src_rows, src_cols]


def shift_images(x, dy, dx):
    """x (N, ..., H, W) -> same shape and dtype, content moved dy rows down and dx columns right.

    Negative values move up / left. Pixels that leave the frame are dropped
    and the uncovered ones are 0. Any array with at least 2 axes works
    (a single (H, W) image too); ``x`` is not modified.
    """
    _require_batch("x", x, 2, "(..., H, W)")
    dy, dx = _require_shift("dy", dy), _require_shift("dx", dx)
    out = np.zeros_like(x)
    _shift_into(out, x, dy, dx)
    return out


def random_shifts(rng, x, max_shift, *, return_shifts=False):
    """x (N, ..., H, W) -> each image shifted by its own (dy, dx), uniform integers in [-max_shift, max_shift].

    Zero-filled like :func:`shift_images`; for augmentation. With
    ``return_shifts=True`` returns ``(shifted, shifts)`` where shifts is an
    int64 (N, 2) array of (dy, dx) per image.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng has {describe(rng)}; expected a numpy Generator (np.random.default_rng(seed))")
    _require_batch("x", x, 3, "(N, ..., H, W)")
    if isinstance(max_shift, (bool, np.bool_)) or not isinstance(max_shift, numbers.Integral) or max_shift < 0:
        raise ValueError(f"max_shift is {max_shift!r}; expected an integer >= 0")
    m = int(max_shift)
    shifts = rng.integers(-m, m + 1, size=(x.shape[0], 2))
    out = np.zeros_like(x)
    # One slice copy per distinct shift (at most (2m + 1)^2) instead of one per image.
    codes = (shifts[:, 0] + m) * (2 * m + 1) + (shifts[:, 1] + m)
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        dy, dx = int(shifts[idx[0], 0]), int(shifts[idx[0], 1])
        block = np.zeros_like(x[idx])
        _shift_into(block, x[idx], dy, dx)
        out[idx] = block
    return (out, shifts) if return_shifts else out


# ---------------------------------------------------------------- generated pictures

def _require_size(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} is {value!r}; expected an integer >= {minimum}")
    return int(value)


def make_bricks(height=120, width=180, *, brick_height=15, brick_width=36, mortar=3):
    """A brick wall as float32 (height, width) in [0, 1]: light bricks of varying shade, dark mortar.

    Every other course is offset by half a brick, so the picture has long
    horizontal edges and short vertical ones: good for seeing what sobel_x
    and sobel_y each pick out.
    """
    height, width = _require_size("height", height, 1), _require_size("width", width, 1)
    brick_height = _require_size("brick_height", brick_height, 2)
    brick_width = _require_size("brick_width", brick_width, 2)
    mortar = _require_size("mortar", mortar, 1)
    if mortar >= min(brick_height, brick_width):
        raise ValueError(f"mortar is {mortar}; expected less than brick_height {brick_height} and "
                         f"brick_width {brick_width}")
    y = np.arange(height)[:, None]
    x = np.arange(width)[None, :]
    course = y // brick_height
    xs = x + (course % 2) * (brick_width // 2)
    column = xs // brick_width
    # A fixed, irregular-looking shade per brick (no random numbers: the picture is the same everywhere).
    shade = 0.55 + 0.08 * ((course * 7 + column * 3) % 5)
    in_mortar = (y % brick_height < mortar) | (xs % brick_width < mortar)
    return np.where(in_mortar, 0.15, shade).astype(np.float32)


def make_shapes(height=128, width=128):
    """Shapes on black as float32 (height, width) in [0, 1]: a filled rectangle, a disc, a ring, a frame, lines."""
    height, width = _require_size("height", height, 8), _require_size("width", width, 8)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    y, x = y / height, x / width  # shapes are placed in relative coordinates so any size works
    img = np.zeros((height, width))
    img[(0.08 < y) & (y < 0.40) & (0.08 < x) & (x < 0.45)] = 0.7
    img[(y - 0.27) ** 2 + (x - 0.72) ** 2 < 0.17 ** 2] = 1.0
    r2 = (y - 0.72) ** 2 + (x - 0.28) ** 2
    img[(0.11 ** 2 < r2) & (r2 < 0.18 ** 2)] = 0.85
    frame = (0.55 < y) & (y < 0.92) & (0.55 < x) & (x < 0.92)
    inner = (0.60 < y) & (y < 0.87) & (0.60 < x) & (x < 0.87)
    img[frame & ~inner] = 0.5
    thickness = 1.5 / min(height, width)
    img[np.abs((y - 0.60) - (x - 0.60)) < thickness] = 1.0  # a diagonal from corner to corner
    img[(np.abs(y - 0.48) < thickness) & (x > 0.05) & (x < 0.95)] = 0.6  # a horizontal line
    return img.astype(np.float32)
