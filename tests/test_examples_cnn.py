"""The CNN example programs (mnist_cnn.py, predict_digit.py, convolve.py), run as a person runs them."""
import dataclasses
import importlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fnn import checkpoint
from fnn.data import find_dataset, load_mnist, make_bricks, read_image, to_mnist_input, write_image
from fnn.models import cnn
from fnn.ops import softmax_forward

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 180


def run_example(name, *args, cwd):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def require_ok(result):
    assert result.returncode == 0, f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def require_clean_failure(result):
    assert result.returncode != 0, f"expected a failure\nstdout:\n{result.stdout}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def assert_png(path, min_bytes=5_000):
    assert os.path.isfile(path), f"{path} was not written"
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) > min_bytes  # an empty canvas is far smaller than a plot with data


def mnist_root():
    root = os.environ.get("FNN_DATA")
    return root if root and find_dataset(root, "mnist") else None


needs_mnist = pytest.mark.skipif(mnist_root() is None, reason="FNN_DATA is not set or holds no MNIST")


# ---------------------------------------------------------------- convolve

@pytest.fixture(scope="module")
def convolve_module():
    """examples/convolve.py imported, for checking its kernel parser without a subprocess per case."""
    sys.path.insert(0, EXAMPLES)
    try:
        # Imported here, numpy is already loaded, so _common rightly warns that its BLAS setting comes too late.
        with pytest.warns(UserWarning, match="after numpy was imported"):
            module = importlib.import_module("convolve")
        yield module
    finally:
        sys.path.remove(EXAMPLES)


def convolve_raw(tmp_path, image, *args):
    """Run convolve.py on ``image`` (written as PNG) -> (raw feature map, PNG path, stdout)."""
    src = tmp_path / "input.png"
    write_image(src, image)
    out = require_ok(run_example("convolve.py", "--image", src, "--save-raw", *args, cwd=tmp_path))
    png = re.search(r"^saved (\S+\.png) \(normalised for display", out, flags=re.MULTILINE).group(1)
    assert os.path.dirname(png) == str(tmp_path)  # next to the input
    return np.load(os.path.splitext(png)[0] + ".npy"), png, out


def test_identity_kernel_reproduces_the_input(tmp_path):
    image = make_bricks(30, 40, brick_height=10, brick_width=12, mortar=2)
    raw, png, out = convolve_raw(tmp_path, image, "--kernel", "[[0,0,0],[0,1,0],[0,0,0]]", "--padding", 1)
    np.testing.assert_array_equal(raw, read_image(tmp_path / "input.png"))
    assert "[ 0  0  0 ]\n[ 0  1  0 ]\n[ 0  0  0 ]" in out  # the kernel is printed as a matrix
    stretched = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(read_image(png), stretched, atol=0.5 / 255 + 1e-6)


def test_sobel_x_responds_only_at_a_vertical_edge(tmp_path):
    edge = np.zeros((12, 16), np.float32)
    edge[:, 8:] = 1.0  # dark left half, bright right half: the edge lies between columns 7 and 8
    raw, _, _ = convolve_raw(tmp_path, edge, "--kernel", "sobel_x")
    assert raw.shape == (10, 14)
    # Output column j sees input columns j..j+2; only j = 6 and 7 straddle the edge, each with weights 1+2+1.
    np.testing.assert_array_equal(raw[:, [6, 7]], 4.0)
    np.testing.assert_array_equal(np.delete(raw, [6, 7], axis=1), 0.0)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_stride_and_padding_set_the_output_size(tmp_path, stride, padding):
    image = np.random.default_rng(stride).random((20, 27)).astype(np.float32)
    kernel = "[[1,2,3,4],[0,-1,0,1]]"  # 2x4: rows and columns follow their own sizes
    raw, _, out = convolve_raw(tmp_path, image, "--kernel", kernel, "--stride", stride, "--padding", padding)
    expected = ((20 + 2 * padding - 2) // stride + 1, (27 + 2 * padding - 4) // stride + 1)
    assert raw.shape == expected
    assert f"= {expected[0]} rows" in out and f"= {expected[1]} columns" in out
    # Plain NumPy cross-correlation: every window of the zero-padded image, every stride-th one kept.
    padded = np.pad(read_image(tmp_path / "input.png").astype(np.float64), padding)  # as the program read it
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2, 4))[::stride, ::stride]
    weights = np.array([[1, 2, 3, 4], [0, -1, 0, 1]], np.float64)
    np.testing.assert_allclose(raw, np.einsum("ijkl,kl->ij", windows, weights), rtol=1e-5, atol=1e-5)


def test_generated_picture_is_saved_with_its_feature_map(tmp_path):
    out = require_ok(run_example("convolve.py", "--kernel", "blur", cwd=tmp_path))
    folder = tmp_path / "runs" / "convolve"
    np.testing.assert_allclose(read_image(folder / "bricks.png"), make_bricks(), atol=0.5 / 255 + 1e-6)
    assert_png(folder / "bricks_blur.png", min_bytes=1_000)
    assert "(1/16) x [ 1  2  1 ]" in out


@pytest.mark.parametrize("text, message", [
    ("[[1,2],[3]]", "same length"),
    ("[[1,\"a\"]]", "finite numbers only"),
    ("[[1,true]]", "finite numbers only"),
    ("[1,2,3]", "list of non-empty rows"),
    ("[]", "list of non-empty rows"),
    ("[[1,2],", "neither a kernel name nor valid list syntax"),
    ("gaussian", "expected one of edge_detect, sobel_x"),
])
def test_malformed_kernels_are_explained(convolve_module, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        convolve_module.parse_kernel(text)


def test_malformed_kernel_on_the_command_line_exits_nonzero(tmp_path):
    stderr = require_clean_failure(run_example("convolve.py", "--kernel", "[[1,2],[3]]", cwd=tmp_path))
    assert "--kernel '[[1,2],[3]]' has rows of lengths [1, 2]" in stderr


# ---------------------------------------------------------------- predict_digit

def draw_seven(size=90):
    img = np.ones((size, size), np.float32)
    img[10:18, 20:70] = 0.0
    for row in range(18, 80):
        col = int(70 - (row - 18) * 0.6)
        img[row, col - 4:col + 4] = 0.0
    return img


def test_predict_digit_applies_the_checkpoint_preprocessing(tmp_path):
    """With any params (here untrained), the printed digit and probabilities are those of the network on
    to_mnist_input of the drawing, normalised with the checkpoint's mean and std."""
    params = cnn.init(np.random.default_rng(5))
    mean, std = 0.2, 0.5
    ckpt = tmp_path / "cnn.npz"
    checkpoint.save(ckpt, params, metadata={
        "model": "fnn.models.cnn", "config": dataclasses.asdict(cnn.LENET5),
        "normalization": {"mean": mean, "std": std}, "class_names": [str(d) for d in range(10)]})
    drawing = draw_seven()
    write_image(tmp_path / "seven.png", drawing)
    out = require_ok(run_example("predict_digit.py", "--image", tmp_path / "seven.png", "--checkpoint", ckpt,
                                 "--save-input", tmp_path / "seen.png", cwd=tmp_path))

    pixels = to_mnist_input(read_image(tmp_path / "seven.png"))
    logits, _ = cnn.forward(params, (pixels - np.float32(mean)) / np.float32(std))
    probs = softmax_forward(logits)[0][0]
    top = np.argsort(probs)[::-1][:3]
    assert re.search(rf"^predicted digit: {top[0]} \(confidence {probs[top[0]]:.4f}\)$", out, flags=re.MULTILINE)
    ranked = re.findall(r"^  (\d)\. (\d) +([0-9.]+)$", out, flags=re.MULTILINE)
    assert [int(d) for _, d, _ in ranked] == list(top)
    np.testing.assert_allclose([float(p) for _, _, p in ranked], probs[top], atol=5e-5)
    np.testing.assert_allclose(read_image(tmp_path / "seen.png"), pixels[0, 0], atol=0.5 / 255 + 1e-6)


def test_predict_digit_without_checkpoint_says_to_train_first(tmp_path):
    write_image(tmp_path / "seven.png", draw_seven())
    stderr = require_clean_failure(run_example("predict_digit.py", "--image", tmp_path / "seven.png", cwd=tmp_path))
    assert "no checkpoint at runs/mnist_cnn/checkpoint.npz" in stderr and "examples/mnist_cnn.py" in stderr


def test_predict_digit_missing_image_is_named(tmp_path):
    params = cnn.init(np.random.default_rng(0))
    checkpoint.save(tmp_path / "c.npz", params, metadata={"model": "fnn.models.cnn",
                                                          "config": dataclasses.asdict(cnn.LENET5)})
    stderr = require_clean_failure(run_example("predict_digit.py", "--image", tmp_path / "none.png",
                                               "--checkpoint", tmp_path / "c.npz", cwd=tmp_path))
    assert "none.png does not exist" in stderr


# ---------------------------------------------------------------- mnist_cnn (+ predict_digit on real digits)

@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One short mnist_cnn.py run shared by the tests below: (stdout, output folder)."""
    cwd = tmp_path_factory.mktemp("mnist_cnn")
    out_dir = cwd / "out"
    # Batches of 32 give 280 steps in 2 epochs of 4500 images, enough for > 90% with the default augmentation.
    stdout = require_ok(run_example("mnist_cnn.py", "--limit", 5000, "--epochs", 2, "--batch-size", 32,
                                    "--max-shift", 2, "--mlp-epochs", 2, "--out", out_dir, cwd=cwd))
    return stdout, out_dir


def test_help_lists_the_flags(tmp_path):
    out = require_ok(run_example("mnist_cnn.py", "--help", cwd=tmp_path))
    for flag in ("--epochs", "--batch-size", "--lr", "--augment", "--seed", "--data", "--kind", "--out", "--limit",
                 "--skip-shift-report"):
        assert flag in out


@pytest.mark.slow
@needs_mnist
def test_mnist_cnn_short_run_learns_and_saves_everything(short_run):
    stdout, out_dir = short_run
    printed = float(re.search(r"^test accuracy: ([0-9.]+)", stdout, flags=re.MULTILINE).group(1))
    assert printed > 0.9
    assert re.search(r"^epoch 2/2 .* ex/s", stdout, flags=re.MULTILINE)
    assert_png(out_dir / "loss_curve.png")
    assert_png(out_dir / "misclassified.png")

    params, opt_state, meta = checkpoint.load(out_dir / "checkpoint.npz", like=cnn.init(np.random.default_rng(0)))
    assert opt_state["step"] > 0
    assert meta["model"] == "fnn.models.cnn" and meta["config"]["conv_channels"] == [6, 16]
    mean, std = meta["normalization"]["mean"], meta["normalization"]["std"]
    assert abs(mean - 0.1307) < 0.01 and abs(std - 0.3081) < 0.01  # measured on the 4500 training images
    # The saved params are the ones that were scored, with the saved normalisation.
    _, (x_test, y_test) = load_mnist(mnist_root())
    x = (x_test[:, None].astype(np.float32) / np.float32(255) - np.float32(mean)) / np.float32(std)
    accuracy = float(np.mean(cnn.predict(params, x) == y_test))
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-12)
    assert accuracy == pytest.approx(printed, abs=5e-5)

    table = {int(s): (float(c), float(m)) for s, c, m in
             re.findall(r"^ +(\d) px +([0-9.]+) +([0-9.]+)$", stdout, flags=re.MULTILINE)}
    assert sorted(table) == [0, 1, 2]
    assert table[0][0] == pytest.approx(printed, abs=5e-5)
    for model in (0, 1):  # moving every digit 2 px right and 2 px down costs both networks accuracy
        assert table[2][model] < table[0][model] - 0.05
    assert "trained a quick 784-128-64-10 MLP" in stdout


@pytest.mark.slow
@needs_mnist
def test_predict_digit_reads_enlarged_inverted_mnist_digits(short_run, tmp_path):
    """MNIST test digits drawn 4x larger, dark on light, are classified as the network classifies them at 28x28."""
    _, out_dir = short_run
    ckpt = out_dir / "checkpoint.npz"
    params, _, meta = checkpoint.load(ckpt)
    mean, std = meta["normalization"]["mean"], meta["normalization"]["std"]
    _, (x_test, y_test) = load_mnist(mnist_root())
    pixels = x_test[:300, None].astype(np.float32) / np.float32(255)
    probs = softmax_forward(cnn.forward(params, (pixels - np.float32(mean)) / np.float32(std))[0])[0]
    confident = [i for i in range(300) if probs[i].argmax() == y_test[i] and probs[i].max() > 0.9]
    chosen = {}
    for i in confident:  # one sample of each of the first four digits found
        chosen.setdefault(int(y_test[i]), i)
    assert len(chosen) >= 4
    for label, i in list(chosen.items())[:4]:
        path = tmp_path / f"digit_{i}.png"
        write_image(path, 1.0 - np.kron(pixels[i, 0], np.ones((4, 4), np.float32)))
        out = require_ok(run_example("predict_digit.py", "--image", path, "--checkpoint", ckpt, cwd=tmp_path))
        predicted = int(re.search(r"^predicted digit: (\d)", out, flags=re.MULTILINE).group(1))
        assert predicted == label, f"test image {i}: label {label}, predicted {predicted}\n{out}"


def test_mnist_cnn_without_data_says_how_to_get_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    stderr = require_clean_failure(run_example("mnist_cnn.py", "--data", empty, "--out", tmp_path / "o", cwd=tmp_path))
    assert "To get the data" in stderr and "FNN_DATA" in stderr and str(empty) in stderr
