"""fnn.data.images: grayscale file I/O, MNIST-style preprocessing, shifts and generated pictures."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.data import (
    images,
    is_dark_on_light,
    make_bricks,
    make_shapes,
    random_shifts,
    read_image,
    resize_image,
    shift_images,
    to_mnist_input,
    write_image,
)


def save_rgb(path, rgb_uint8):
    """Write an (H, W, 3|4) uint8 array as a colour PNG/JPEG, bypassing fnn."""
    import matplotlib.image

    matplotlib.image.imsave(str(path), rgb_uint8)


def centre_of_mass(a):
    rows, cols = np.indices(a.shape)
    return (rows * a).sum() / a.sum(), (cols * a).sum() / a.sum()


def draw_digit(canvas_shape, top, left, scale, *, ink=0.0, paper=1.0):
    """An asymmetric '7'-like glyph, 12*scale tall and 8*scale wide, at (top, left) of a canvas."""
    img = np.full(canvas_shape, paper, np.float64)
    y, x = np.indices(canvas_shape).astype(np.float64)
    u, v = (y - top) / scale, (x - left) / scale  # glyph coordinates: 0..12 down, 0..8 across
    stroke = 1.2
    bar = (0 <= u) & (u <= stroke) & (0 <= v) & (v <= 8)
    # The stem runs from the bar's right end down-left to the bottom: distance to the segment (1, 8)-(12, 3).
    t = np.clip(((u - 1) * 11 + (v - 8) * -5) / (11 ** 2 + 5 ** 2), 0, 1)
    stem = (u - (1 + 11 * t)) ** 2 + (v - (8 - 5 * t)) ** 2 <= (stroke / 2 + 0.1) ** 2
    img[bar | stem] = ink
    return img


# ---------------------------------------------------------------- file I/O

def test_png_round_trip_is_exact_for_8bit_levels(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 256, size=(17, 23)) / np.float32(255)).astype(np.float32)
    assert write_image(tmp_path / "a.png", x) == (0.0, 1.0)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (17, 23)
    np.testing.assert_array_equal(back, x)


def test_write_image_stretches_values_outside_unit_range(tmp_path):
    x = np.linspace(-3.0, 5.0, 60).reshape(6, 10)
    x_before = x.copy()
    lo, hi = write_image(tmp_path / "b.png", x)
    assert (lo, hi) == (-3.0, 5.0)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_allclose(read_image(tmp_path / "b.png"), (x + 3.0) / 8.0, atol=0.5 / 255 + 1e-7)
    write_image(tmp_path / "c.png", np.full((4, 4), 7.0))  # constant: black, not a division by zero
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), np.zeros((4, 4), np.float32))


def test_rgb_is_converted_with_luma_weights(tmp_path):
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[0, 3] = (255, 255, 255)
    rgb[1, :] = (51, 51, 51)
    save_rgb(tmp_path / "rgb.png", rgb)
    gray = read_image(tmp_path / "rgb.png")
    np.testing.assert_allclose(gray[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)
    np.testing.assert_allclose(gray[1], 0.2, atol=1e-7)


def test_rgba_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent black: reads as the white page
    rgba[0, 1] = (0, 0, 0, 255)  # opaque black
    rgba[0, 2] = (0, 0, 0, 51)  # 20% black over white
    save_rgb(tmp_path / "rgba.png", rgba)
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png")[0], [1.0, 0.0, 0.8], atol=1e-6)


def test_jpeg_is_read_when_pillow_is_installed(tmp_path):
    pytest.importorskip("PIL")
    gradient = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))
    save_rgb(tmp_path / "g.jpg", np.repeat(gradient[:, :, None], 3, axis=2))
    gray = read_image(tmp_path / "g.jpg")
    assert gray.dtype == np.float32 and gray.shape == (32, 64)
    np.testing.assert_allclose(gray, gradient / 255.0, atol=0.04)  # JPEG is lossy


def test_jpeg_without_pillow_says_to_use_png(tmp_path, monkeypatch):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff not really a jpeg")
    monkeypatch.setattr(images, "_pillow_available", lambda: False)
    with pytest.raises(ValueError, match=r"photo\.jpg.*Pillow.*PNG"):
        read_image(path)


def test_missing_and_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.png does not exist"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match=r"could not read .*text\.png"):
        read_image(tmp_path / "text.png")


def test_write_image_rejects_non_images(tmp_path):
    with pytest.raises(ValueError, match=r"image has shape \(2, 3, 4\); expected 2 axes"):
        write_image(tmp_path / "x.png", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="nan or inf"):
        write_image(tmp_path / "x.png", np.array([[0.0, np.nan]]))


# ---------------------------------------------------------------- resampling

def test_resize_shrinks_by_averaging_areas():
    x = np.arange(24, dtype=np.float64).reshape(4, 6)
    block_means = x.reshape(2, 2, 3, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_image(x, 2, 3), block_means, rtol=1e-12)
    # Non-integer factors: every weight row still sums to 1, so a constant stays constant.
    np.testing.assert_allclose(resize_image(np.full((7, 5), 0.3), 3, 11), 0.3, rtol=1e-12)


def test_resize_enlarges_bilinearly():
    x = np.array([[0.0, 1.0]])
    # Output pixel centres sit at input positions -0.25, 0.25, 0.75, 1.25 (clamped to the edge pixels).
    np.testing.assert_allclose(resize_image(x, 1, 4), [[0.0, 0.25, 0.75, 1.0]], atol=1e-12)


# ---------------------------------------------------------------- MNIST-style preprocessing

def test_polarity_detection():
    dark_on_light = draw_digit((60, 50), 5, 8, 3.0)
    assert is_dark_on_light(dark_on_light)
    assert not is_dark_on_light(1.0 - dark_on_light)
    pencil_on_grey_paper = draw_digit((60, 50), 5, 8, 3.0, ink=0.45, paper=0.7)
    assert is_dark_on_light(pencil_on_grey_paper)
    chalk_on_slate = draw_digit((60, 50), 5, 8, 3.0, ink=0.6, paper=0.2)
    assert not is_dark_on_light(chalk_on_slate)


def test_both_polarities_and_contrasts_give_the_same_input():
    drawing = draw_digit((80, 70), 10, 20, 4.0)
    reference = to_mnist_input(drawing)
    np.testing.assert_allclose(to_mnist_input(1.0 - drawing), reference, atol=1e-6)
    np.testing.assert_allclose(to_mnist_input(draw_digit((80, 70), 10, 20, 4.0, ink=0.45, paper=0.7)), reference,
                               atol=1e-5)
    np.testing.assert_allclose(to_mnist_input((255 * drawing).astype(np.uint8)), reference, atol=1e-6)


@given(scale=st.floats(4.0, 12.0), margin_top=st.integers(0, 60), margin_left=st.integers(0, 60),
       extra_h=st.integers(0, 40), extra_w=st.integers(0, 40))
def test_digit_at_any_size_and_position_lands_centred_and_the_same(scale, margin_top, margin_left, extra_h, extra_w):
    glyph_h, glyph_w = int(np.ceil(12 * scale)) + 2, int(np.ceil(8 * scale)) + 2
    shape = (margin_top + glyph_h + extra_h, margin_left + glyph_w + extra_w)
    drawing = draw_digit(shape, margin_top, margin_left, scale)
    drawing_before = drawing.copy()
    x = to_mnist_input(drawing)
    np.testing.assert_array_equal(drawing, drawing_before)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    img = x[0, 0].astype(np.float64)
    assert img.min() == 0.0 and img.max() == pytest.approx(1.0)
    rows = np.flatnonzero((img > 0.25).any(axis=1))
    assert rows[-1] - rows[0] + 1 in (19, 20, 21)  # the longer (vertical) side fills the 20 px box
    cy, cx = centre_of_mass(img)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5  # whole-pixel shifts: within half a pixel
    reference = to_mnist_input(draw_digit((120, 100), 10, 30, 8.0))[0, 0]
    # Moving the reference itself by one pixel costs 0.055 and by one pixel diagonally 0.098; what remains here
    # is the glyph drawn on a coarser or finer pixel grid.
    assert np.abs(img - reference).mean() < 0.075


def test_preprocessing_an_enlarged_inverted_input_reproduces_it():
    """What MNIST digits look like is a fixed point: enlarge 4x, invert, preprocess again -> the same 28x28."""
    first = to_mnist_input(draw_digit((90, 90), 20, 40, 5.0))[0, 0]
    big = 1.0 - np.kron(first, np.ones((4, 4), np.float32))
    again = to_mnist_input(np.pad(big, 30, constant_values=1.0))[0, 0]
    assert np.abs(again - first).mean() < 0.01


def test_mean_and_std_are_applied_last():
    drawing = draw_digit((70, 60), 5, 5, 4.0)
    plain = to_mnist_input(drawing)
    normalised = to_mnist_input(drawing, mean=0.1307, std=0.3081)
    assert normalised.dtype == np.float32
    np.testing.assert_allclose(normalised, (plain - 0.1307) / 0.3081, rtol=1e-5, atol=1e-6)


def test_to_mnist_input_rejects_bad_input():
    with pytest.raises(ValueError, match=r"every pixel equals 1"):
        to_mnist_input(np.ones((30, 30)))
    with pytest.raises(ValueError, match=r"image has shape \(1, 28, 28\); expected 2 axes"):
        to_mnist_input(np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match=r"image has type list"):
        to_mnist_input([[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"std is 0"):
        to_mnist_input(draw_digit((40, 40), 2, 2, 2.5), std=0)


# ---------------------------------------------------------------- shifts

def shift_reference(x, dy, dx):
    """out[..., i, j] = x[..., i - dy, j - dx] where that is inside the image, else 0 (one pixel at a time)."""
    out = np.zeros_like(x)
    H, W = x.shape[-2:]
    for i in range(H):
        for j in range(W):
            if 0 <= i - dy < H and 0 <= j - dx < W:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
       dy=st.integers(-8, 8), dx=st.integers(-8, 8), dtype=st.sampled_from([np.float32, np.float64, np.uint8]))
def test_shift_moves_content_exactly_and_zero_fills(shape, dy, dx, dtype):
    x = (np.arange(np.prod(shape)).reshape(shape) % 250 + 1).astype(dtype)  # no zeros, so any fill shows
    x_before = x.copy()
    out = shift_images(x, dy, dx)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, shift_reference(x, dy, dx))
    np.testing.assert_array_equal(x, x_before)


def test_shift_of_a_single_image_and_a_known_pixel():
    img = np.zeros((5, 5), np.float32)
    img[1, 2] = 1.0
    moved = shift_images(img, 2, -1)
    assert moved[3, 1] == 1.0 and moved.sum() == 1.0


def test_shift_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"dy is 1\.5; expected an integer"):
        shift_images(np.zeros((2, 4, 4)), 1.5, 0)
    with pytest.raises(ValueError, match=r"dx is True"):
        shift_images(np.zeros((2, 4, 4)), 0, True)
    with pytest.raises(ValueError, match=r"x has shape \(4,\); expected at least 2 axes"):
        shift_images(np.zeros(4), 1, 1)


def test_random_shifts_stay_in_bounds_and_match_shift_images():
    x = np.random.default_rng(1).random((300, 1, 9, 9)).astype(np.float32) + 0.5
    x_before = x.copy()
    out, shifts = random_shifts(np.random.default_rng(7), x, 3, return_shifts=True)
    np.testing.assert_array_equal(x, x_before)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert shifts.shape == (300, 2) and shifts.min() == -3 and shifts.max() == 3
    assert set(np.unique(shifts)) == set(range(-3, 4))  # 600 draws from 7 values: every value appears
    for i in range(len(x)):
        np.testing.assert_array_equal(out[i], shift_images(x[i], int(shifts[i, 0]), int(shifts[i, 1])))


def test_random_shifts_are_seeded():
    x = np.random.default_rng(2).random((50, 8, 8))
    first = random_shifts(np.random.default_rng(3), x, 2)
    np.testing.assert_array_equal(first, random_shifts(np.random.default_rng(3), x, 2))
    assert not np.array_equal(first, random_shifts(np.random.default_rng(4), x, 2))
    unshifted = random_shifts(np.random.default_rng(3), x, 0)
    np.testing.assert_array_equal(unshifted, x)
    assert unshifted is not x


def test_random_shifts_reject_bad_arguments():
    x = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="max_shift is -1"):
        random_shifts(np.random.default_rng(0), x, -1)
    with pytest.raises(ValueError, match="rng has type int"):
        random_shifts(0, x, 1)
    with pytest.raises(ValueError, match=r"x has shape \(4, 4\); expected at least 3 axes"):
        random_shifts(np.random.default_rng(0), np.zeros((4, 4)), 1)


# ---------------------------------------------------------------- generated pictures

def test_bricks_have_mortar_courses_and_staggered_joints():
    wall = make_bricks(60, 144, brick_height=15, brick_width=36, mortar=3)
    assert wall.dtype == np.float32 and wall.shape == (60, 144)
    assert 0.0 <= wall.min() and wall.max() <= 1.0
    mortar = wall.min()
    np.testing.assert_array_equal(wall[0:3], mortar)  # a mortar course on top of each course of bricks
    np.testing.assert_array_equal(wall[15:18], mortar)

    def joints(row):
        return set(np.flatnonzero(wall[row] == mortar))

    first, second = joints(8), joints(8 + 15)  # the middle row of two neighbouring courses
    assert first and second and not first & second  # joints never line up from one course to the next
    assert {c + 18 for c in first if c + 18 < 144} <= second | set(range(144 - 18, 144))  # offset by half a brick


def test_shapes_picture_has_bright_shapes_on_black():
    pic = make_shapes(96, 128)
    assert pic.dtype == np.float32 and pic.shape == (96, 128)
    assert pic[0, -1] == 0.0 and pic.max() == 1.0
    assert 0.1 < np.mean(pic > 0) < 0.6
    with pytest.raises(ValueError, match="height is 4"):
        make_shapes(4, 10)
