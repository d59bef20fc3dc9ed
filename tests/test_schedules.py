import math
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn import optim
from fnn.schedules import clip_by_global_norm, cosine_decay, exponential_decay, global_norm, step_decay

# ---------------------------------------------------------------- schedules


def test_step_decay_values():
    schedule = step_decay(0.5, step_size=3, gamma=0.2)
    # Multiply by gamma each time the step reaches a multiple of step_size.
    lr = 0.5
    for step in range(12):
        if step > 0 and step % 3 == 0:
            lr *= 0.2
        assert schedule(step) == pytest.approx(lr, rel=1e-12)
    assert schedule(2) == 0.5 and schedule(3) == pytest.approx(0.1)


def test_exponential_decay_values():
    schedule = exponential_decay(0.3, gamma=0.9)
    assert schedule(0) == 0.3
    for step in range(1, 20):
        assert schedule(step) / schedule(step - 1) == pytest.approx(0.9, rel=1e-12)
    assert schedule(10) == pytest.approx(0.3 * 0.9 ** 10, rel=1e-12)


def test_cosine_decay_warmup_midpoint_and_end():
    lr, min_lr, warmup, total = 0.4, 0.04, 5, 25
    schedule = cosine_decay(lr, total_steps=total, warmup_steps=warmup, min_lr=min_lr)
    warm = [schedule(t) for t in range(warmup)]
    np.testing.assert_allclose(warm, lr * np.arange(1, warmup + 1) / warmup, rtol=1e-12)
    np.testing.assert_allclose(np.diff(warm), lr / warmup, rtol=1e-12)  # linear
    assert 0 < warm[0] <= lr / warmup
    assert schedule(warmup) == pytest.approx(lr, rel=1e-12)
    # Half-way through the cosine phase the rate is half-way between lr and min_lr.
    assert schedule(warmup + (total - warmup) // 2) == pytest.approx((lr + min_lr) / 2, rel=1e-12)
    # A quarter of the way: cos(pi / 4).
    quarter = warmup + (total - warmup) // 4
    assert schedule(quarter) == pytest.approx(min_lr + (lr - min_lr) * (1 + math.cos(math.pi / 4)) / 2, rel=1e-12)
    assert schedule(total) == pytest.approx(min_lr, rel=1e-12)
    assert schedule(total + 1) == schedule(10 * total) == min_lr


def test_cosine_decay_without_warmup_starts_at_lr():
    schedule = cosine_decay(1.0, total_steps=10)
    assert schedule(0) == 1.0
    assert schedule(10) == pytest.approx(0.0, abs=1e-15)


@given(
    lr=st.floats(1e-4, 10.0),
    gamma=st.floats(0.01, 1.0),
    step_size=st.integers(1, 7),
    warmup=st.integers(0, 10),
    span=st.integers(1, 40),
    min_frac=st.floats(0.0, 1.0),
)
def test_schedules_are_monotone(lr, gamma, step_size, warmup, span, min_frac):
    steps = range(warmup + span + 5)
    for schedule in (step_decay(lr, step_size=step_size, gamma=gamma), exponential_decay(lr, gamma=gamma)):
        values = [schedule(t) for t in steps]
        assert all(b <= a for a, b in zip(values, values[1:]))
        assert values[0] == lr
    cosine = cosine_decay(lr, total_steps=warmup + span, warmup_steps=warmup, min_lr=lr * min_frac)
    values = np.array([cosine(t) for t in steps])
    assert np.all(np.diff(values[:warmup]) > 0)  # warm-up rises to lr at step warmup - 1
    assert np.all(np.diff(values[max(warmup - 1, 0):]) <= 1e-15 * lr)
    assert values.max() == pytest.approx(lr, rel=1e-12)
    assert values[warmup:].min() >= lr * min_frac * (1 - 1e-12)


def test_schedules_are_frozen_printable_and_picklable():
    schedule = cosine_decay(0.1, total_steps=100, warmup_steps=10, min_lr=0.01)
    assert "total_steps=100" in repr(schedule)
    clone = pickle.loads(pickle.dumps(schedule))
    assert clone == schedule and clone(37) == schedule(37)
    with pytest.raises(AttributeError):
        schedule.lr = 1.0


def test_schedules_are_reexported_by_optim():
    assert optim.cosine_decay is cosine_decay and optim.clip_by_global_norm is clip_by_global_norm


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: step_decay(0.1, step_size=0), r"step_size is 0; expected an integer >= 1"),
        (lambda: step_decay(0.1, step_size=2.5), r"step_size is 2\.5; expected an integer >= 1"),
        (lambda: step_decay(0.1, step_size=2, gamma=0.0), r"gamma is 0\.0; expected a real number in \(0\.0, 1\.0\]"),
        (lambda: step_decay(-0.1, step_size=2), r"lr is -0\.1; expected a real number in \[0\.0, inf\)"),
        (lambda: exponential_decay(0.1, gamma=1.5), r"gamma is 1\.5"),
        (lambda: exponential_decay(float("nan"), gamma=0.5), r"lr is nan"),
        (lambda: cosine_decay(0.1, total_steps=5, warmup_steps=5), r"total_steps is 5; expected an integer >= 6"),
        (lambda: cosine_decay(0.1, total_steps=5, warmup_steps=-1), r"warmup_steps is -1; expected an integer >= 0"),
        (lambda: cosine_decay(0.1, total_steps=5, min_lr=0.2), r"min_lr is 0\.2; expected a real number in \[0\.0, 0\.1\]"),
    ],
)
def test_schedule_constructors_reject_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("step", [-1, 1.0, True, "3"])
def test_schedules_reject_bad_steps(step):
    for schedule in (step_decay(0.1, step_size=2), exponential_decay(0.1, gamma=0.5), cosine_decay(0.1, total_steps=3)):
        with pytest.raises(ValueError, match=r"step is .*; expected an integer >= 0"):
            schedule(step)


# ---------------------------------------------------------------- clipping

grad_shapes = st.dictionaries(
    st.sampled_from(["dense1.w", "dense1.b", "conv1.w", "out.b"]),
    st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    min_size=1,
)


def _grads(shapes, seed, scale, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {k: (scale * rng.standard_normal(s)).astype(dtype) for k, s in shapes.items()}


def _norm_by_concatenation(grads):
    return float(np.linalg.norm(np.concatenate([g.astype(np.float64).ravel() for g in grads.values()])))


@given(shapes=grad_shapes, seed=st.integers(0, 2**31 - 1), max_norm=st.floats(1e-3, 1.0))
def test_clipping_scales_to_max_norm_and_keeps_direction(shapes, seed, max_norm):
    grads = _grads(shapes, seed, scale=10.0)
    norm = _norm_by_concatenation(grads)
    if norm <= max_norm:
        return
    copies = {k: g.copy() for k, g in grads.items()}
    clipped, reported = clip_by_global_norm(grads, max_norm)
    assert reported == pytest.approx(norm, rel=1e-12)
    assert _norm_by_concatenation(clipped) == pytest.approx(max_norm, rel=1e-12)
    assert list(clipped) == list(grads)
    for k in grads:
        np.testing.assert_allclose(clipped[k], grads[k] * (max_norm / norm), rtol=1e-12)
        np.testing.assert_array_equal(grads[k], copies[k])
        assert not np.shares_memory(clipped[k], grads[k])


@given(shapes=grad_shapes, seed=st.integers(0, 2**31 - 1))
def test_clipping_leaves_small_gradients_unchanged(shapes, seed):
    grads = _grads(shapes, seed, scale=0.01)
    max_norm = 2.0 * _norm_by_concatenation(grads)
    clipped, reported = clip_by_global_norm(grads, max_norm)
    assert reported == pytest.approx(max_norm / 2, rel=1e-12)
    assert clipped is not grads
    for k in grads:
        np.testing.assert_array_equal(clipped[k], grads[k])
        assert not np.shares_memory(clipped[k], grads[k])


def test_clipping_all_zero_gradients_gives_zero_norm_and_no_nan():
    grads = {"w": np.zeros((3, 2)), "b": np.zeros(2)}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == 0.0
    assert all(np.array_equal(clipped[k], grads[k]) for k in grads)


def test_clipping_keeps_float32():
    grads = _grads({"w": (5, 4), "b": (4,)}, seed=0, scale=10.0, dtype=np.float32)
    clipped, norm = clip_by_global_norm(grads, 0.5)
    assert all(g.dtype == np.float32 for g in clipped.values())
    assert isinstance(norm, float)
    assert _norm_by_concatenation(clipped) == pytest.approx(0.5, rel=1e-5)
    assert global_norm(grads) == pytest.approx(_norm_by_concatenation(grads), rel=1e-5)


def test_non_finite_gradients_pass_through_with_their_norm():
    grads = {"w": np.array([1.0, np.inf]), "b": np.array([2.0])}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == np.inf
    np.testing.assert_array_equal(clipped["w"], grads["w"])


@pytest.mark.parametrize(
    "grads, max_norm, match",
    [
        ({"w": np.ones(2)}, 0.0, r"max_norm is 0\.0; expected a real number in \(0\.0, inf\)"),
        ({"w": np.ones(2)}, float("nan"), r"max_norm is nan"),
        ({"w": np.ones(2, dtype=np.int32)}, 1.0, r"grads\['w'\] has shape \(2,\) and dtype int32; expected a float32"),
        ([np.ones(2)], 1.0, r"grads has type list; expected a dict of float arrays"),
    ],
)
def test_clipping_rejects_bad_input(grads, max_norm, match):
    with pytest.raises(ValueError, match=match):
        clip_by_global_norm(grads, max_norm)
