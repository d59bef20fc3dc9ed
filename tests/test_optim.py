import copy
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn import optim

# name -> (init, update, hyperparameters). Non-default values everywhere, so a
# hyperparameter that is ignored or wired to the wrong slot changes the result.
CASES = {
    "sgd": (optim.sgd_init, optim.sgd_update, dict(lr=0.1, weight_decay=0.05)),
    "momentum": (optim.momentum_init, optim.momentum_update, dict(lr=0.05, mu=0.8, weight_decay=0.02)),
    "nesterov": (optim.nesterov_init, optim.nesterov_update, dict(lr=0.05, mu=0.8, weight_decay=0.02)),
    "adagrad": (optim.adagrad_init, optim.adagrad_update, dict(lr=0.3, eps=1e-7)),
    "rmsprop": (optim.rmsprop_init, optim.rmsprop_update, dict(lr=0.01, rho=0.85, eps=1e-6)),
    "adam": (optim.adam_init, optim.adam_update, dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6)),
    "adamw": (optim.adamw_init, optim.adamw_update, dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1)),
}
NAMES = list(CASES)


def quadratic(shapes, seed, dtype=np.float64):
    """f(p) = 0.5 * sum(a * (p - c)^2) over a dict of arrays: (p0, a, c), a in [0.5, 2]."""
    rng = np.random.default_rng(seed)
    p0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    a = {k: rng.uniform(0.5, 2.0, s).astype(dtype) for k, s in shapes.items()}
    c = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    return p0, a, c


def quadratic_grads(params, a, c):
    return {k: a[k] * (params[k] - c[k]) for k in params}


def run(name, p0, a, c, steps, **override):
    init, update, hyper = CASES[name]
    hyper = {**hyper, **override}
    params, state = p0, init(p0)
    for _ in range(steps):
        params, state = update(params, quadratic_grads(params, a, c), state, **hyper)
    return params, state


def reference_coordinate(name, p, a, c, steps, *, lr, mu=0.0, weight_decay=0.0, eps=0.0,
                         rho=0.0, beta1=0.0, beta2=0.0):
    """One coordinate of the separable quadratic, stepped with the textbook equations in plain floats."""
    v = s = m = 0.0
    for t in range(steps):
        lr_t = lr(t) if callable(lr) else lr
        g = a * (p - c)
        if name in ("sgd", "momentum", "nesterov"):
            g = g + weight_decay * p
        if name == "sgd":
            p = p - lr_t * g
        elif name == "momentum":
            v = mu * v + g
            p = p - lr_t * v
        elif name == "nesterov":
            v = mu * v + g
            p = p - lr_t * (g + mu * v)
        elif name == "adagrad":
            s = s + g * g
            p = p - lr_t * g / (math.sqrt(s) + eps)
        elif name == "rmsprop":
            s = rho * s + (1 - rho) * g * g
            p = p - lr_t * g / (math.sqrt(s) + eps)
        else:  # adam, adamw
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1 ** (t + 1))
            v_hat = v / (1 - beta2 ** (t + 1))
            if name == "adamw":
                p = p - lr_t * weight_decay * p
            p = p - lr_t * m_hat / (math.sqrt(v_hat) + eps)
    return p


def reference(name, p0, a, c, steps, **override):
    hyper = {**CASES[name][2], **override}
    out = {}
    for k in p0:
        coords = [reference_coordinate(name, p, ai, ci, steps, **hyper)
                  for p, ai, ci in zip(p0[k].ravel().tolist(), a[k].ravel().tolist(), c[k].ravel().tolist())]
        out[k] = np.array(coords).reshape(p0[k].shape)
    return out


shape_dicts = st.fixed_dictionaries({
    "dense1.w": st.tuples(st.integers(1, 4), st.integers(1, 4)),
    "dense1.b": st.tuples(st.integers(1, 4)),
})


@pytest.mark.parametrize("name", NAMES)
@given(shapes=shape_dicts, seed=st.integers(0, 2**31 - 1), scheduled=st.booleans())
def test_update_matches_textbook_equations(name, shapes, seed, scheduled):
    p0, a, c = quadratic(shapes, seed)
    override = {}
    if scheduled:
        override["lr"] = optim.cosine_decay(CASES[name][2]["lr"], total_steps=15, warmup_steps=4, min_lr=1e-3)
    params, state = run(name, p0, a, c, 20, **override)
    expected = reference(name, p0, a, c, 20, **override)
    assert state["step"] == 20
    for k in p0:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-12)


# lr and step count per optimizer for a well-conditioned quadratic (a in [0.5, 2]).
CONVERGENCE = {
    "sgd": dict(lr=0.5, weight_decay=0.0),
    "momentum": dict(lr=0.2, mu=0.5, weight_decay=0.0),
    "nesterov": dict(lr=0.2, mu=0.5, weight_decay=0.0),
    "adagrad": dict(lr=1.0),
    "rmsprop": dict(lr=0.03),
    "adam": dict(lr=0.05),
    "adamw": dict(lr=0.05, weight_decay=1e-4),
}


@pytest.mark.parametrize("name", NAMES)
def test_update_converges_to_minimum(name):
    p0, a, c = quadratic({"w": (6, 5), "b": (5,)}, seed=3)
    params, _ = run(name, p0, a, c, 400, **CONVERGENCE[name])
    start = max(np.max(np.abs(p0[k] - c[k])) for k in p0)
    end = max(np.max(np.abs(params[k] - c[k])) for k in p0)
    assert end < 0.01 * start, (start, end)


def test_sgd_momentum_and_nesterov_take_different_paths():
    p0, a, c = quadratic({"w": (4, 3)}, seed=5)
    common = dict(lr=0.1, mu=0.9, weight_decay=0.0)
    paths = {
        "sgd": run("sgd", p0, a, c, 3, lr=0.1, weight_decay=0.0)[0]["w"],
        "momentum": run("momentum", p0, a, c, 3, **common)[0]["w"],
        "nesterov": run("nesterov", p0, a, c, 3, **common)[0]["w"],
    }
    for x, y in [("sgd", "momentum"), ("sgd", "nesterov"), ("momentum", "nesterov")]:
        assert np.max(np.abs(paths[x] - paths[y])) > 1e-2, (x, y)
    # First step by hand: momentum equals SGD, Nesterov moves (1 + mu) times as far.
    g0 = a["w"] * (p0["w"] - c["w"])
    np.testing.assert_allclose(run("momentum", p0, a, c, 1, **common)[0]["w"], p0["w"] - 0.1 * g0, rtol=1e-14)
    np.testing.assert_allclose(run("nesterov", p0, a, c, 1, **common)[0]["w"], p0["w"] - 0.1 * 1.9 * g0, rtol=1e-14)


def test_adamw_decays_weights_but_adam_with_zero_gradient_does_not_move():
    p = {"w": np.array([2.0, -4.0])}
    g = {"w": np.zeros(2)}
    p_adam, _ = optim.adam_update(p, g, optim.adam_init(p), lr=0.1)
    p_adamw, _ = optim.adamw_update(p, g, optim.adamw_init(p), lr=0.1, weight_decay=0.5)
    np.testing.assert_array_equal(p_adam["w"], p["w"])
    np.testing.assert_allclose(p_adamw["w"], p["w"] * (1 - 0.1 * 0.5), rtol=1e-15)


def _arrays(tree):
    if isinstance(tree, dict):
        return [a for v in tree.values() for a in _arrays(v)]
    if isinstance(tree, tuple):
        return [a for v in tree for a in _arrays(v)]
    return [tree] if isinstance(tree, np.ndarray) else []


def _assert_trees_identical(x, y):
    assert type(x) is type(y)
    if isinstance(x, dict):
        assert list(x) == list(y)
        for k in x:
            _assert_trees_identical(x[k], y[k])
    elif isinstance(x, tuple):
        assert len(x) == len(y)
        for xi, yi in zip(x, y):
            _assert_trees_identical(xi, yi)
    elif isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    else:
        assert x == y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_update_is_pure_and_returns_fresh_arrays(name, dtype):
    init, update, hyper = CASES[name]
    p0, a, c = quadratic({"w": (3, 4), "b": (4,)}, seed=11, dtype=dtype)
    params, state = run(name, p0, a, c, 2)  # non-zero state buffers
    grads = quadratic_grads(params, a, c)
    before = copy.deepcopy((params, grads, state))
    new_params, new_state = update(params, grads, state, **hyper)
    _assert_trees_identical((params, grads, state), before)
    assert new_params is not params and new_state is not state
    assert all(new_state[k] is not state[k] for k in state if isinstance(state[k], dict))
    outputs, inputs = _arrays((new_params, new_state)), _arrays((params, grads, state))
    for i, out in enumerate(outputs):
        assert not any(np.shares_memory(out, x) for x in inputs)
        assert not any(np.shares_memory(out, other) for other in outputs[i + 1:])
    again = update(params, grads, state, **hyper)
    _assert_trees_identical(again, (new_params, new_state))


@pytest.mark.parametrize("name", NAMES)
def test_update_accepts_non_contiguous_params_and_grads(name):
    """Transposed and strided views update like their contiguous copies (the fused loops need contiguous input)."""
    init, update, hyper = CASES[name]
    rng = np.random.default_rng(5)
    base = rng.standard_normal((2, 6, 5))
    params = {"w": base[0].T, "b": base[1, ::2, 0]}
    grads = {"w": base[1].T * 0.5, "b": base[0, 1::2, 1]}
    contiguous = ({k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in grads.items()})
    before = copy.deepcopy(params)
    got, _ = update(params, grads, init(params), **hyper)
    want, _ = update(*contiguous, init(contiguous[0]), **hyper)
    _assert_trees_identical(params, before)
    for k in params:
        assert got[k].shape == params[k].shape
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("name", NAMES)
def test_float32_params_and_state_stay_float32(name):
    init, update, hyper = CASES[name]
    p64, a, c = quadratic({"w": (5, 3), "b": (3,)}, seed=2)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    a32 = {k: v.astype(np.float32) for k, v in a.items()}
    c32 = {k: v.astype(np.float32) for k, v in c.items()}
    # np.float64 hyperparameters and a schedule returning np.float64 must not promote.
    hyper = {k: np.float64(v) for k, v in hyper.items()}
    lr0 = hyper.pop("lr")
    params, state = p32, init(p32)
    for _ in range(5):
        params, state = update(params, quadratic_grads(params, a32, c32), state, lr=lambda t: lr0 * 0.9 ** t, **hyper)
    for arr in _arrays((params, state)):
        assert arr.dtype == np.float32
    expected, _ = run(name, p64, a, c, 5, lr=lambda t: float(lr0) * 0.9 ** t)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-4, atol=1e-5)


def test_schedule_is_called_with_steps_from_zero():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.5 / (step + 1)

    p0, a, c = quadratic({"w": (2, 2)}, seed=0)
    opt = optim.sgd(schedule)
    assert seen == []  # building the optimizer does not consume a step
    params, state = p0, opt.init(p0)
    for step in range(4):
        by_hand = {k: params[k] - 0.5 / (step + 1) * a[k] * (params[k] - c[k]) for k in params}
        params, state = opt.update(params, quadratic_grads(params, a, c), state)
        np.testing.assert_allclose(params["w"], by_hand["w"], rtol=1e-15)
    assert seen == [0, 1, 2, 3] and state["step"] == 4


def _flatten(state):
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update({f"{k}/{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = np.asarray(v)
    return out


def _unflatten(flat):
    state = {}
    for name, v in flat.items():
        if "/" in name:
            outer, inner = name.split("/", 1)
            state.setdefault(outer, {})[inner] = v
        else:
            state[name] = v
    return state


@pytest.mark.parametrize("name", NAMES)
def test_state_survives_an_npz_round_trip(name, tmp_path):
    init, update, hyper = CASES[name]
    p0, a, c = quadratic({"dense1.w": (3, 2), "dense1.b": (2,)}, seed=4)
    params, state = run(name, p0, a, c, 3)
    np.savez(tmp_path / "state.npz", **_flatten(state))
    with np.load(tmp_path / "state.npz") as f:
        loaded = _unflatten({k: f[k] for k in f.files})
    direct, _ = update(params, quadratic_grads(params, a, c), state, **hyper)
    resumed, resumed_state = update(params, quadratic_grads(params, a, c), loaded, **hyper)
    _assert_trees_identical(resumed, direct)
    assert resumed_state["step"] == 4


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_object_matches_update_function(name):
    init, update, hyper = CASES[name]
    opt = getattr(optim, name)(**{k: v for k, v in hyper.items() if k != "lr"}, lr=hyper["lr"])
    assert opt.name == name and opt.hyperparams["clip_norm"] is None
    p0, a, c = quadratic({"w": (3, 3)}, seed=8)
    s1, s2 = opt.init(p0), init(p0)
    _assert_trees_identical(s1, s2)
    g = quadratic_grads(p0, a, c)
    _assert_trees_identical(opt.update(p0, g, s1), update(p0, g, s2, **hyper))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.name = "other"
    with pytest.raises(TypeError):
        opt.hyperparams["lr"] = 1.0


@pytest.mark.parametrize("name", NAMES)
def test_clip_norm_clips_before_the_update(name):
    init, update, hyper = CASES[name]
    opt = getattr(optim, name)(**{k: v for k, v in hyper.items() if k != "lr"}, lr=hyper["lr"], clip_norm=0.5)
    p0, a, c = quadratic({"w": (4, 3), "b": (3,)}, seed=9)
    # A warm state: from zero buffers, adaptive methods' first step barely depends on gradient scale.
    params, state = run(name, p0, a, c, 2)
    big = {k: 10.0 * v for k, v in quadratic_grads(params, a, c).items()}
    small, _ = optim.clip_by_global_norm(big, 0.1)  # norm 0.1, under clip_norm
    for grads in (big, small):
        clipped, _ = optim.clip_by_global_norm(grads, 0.5)
        _assert_trees_identical(opt.update(params, grads, state), update(params, clipped, state, **hyper))
    unclipped = getattr(optim, name)(**{k: v for k, v in hyper.items() if k != "lr"}, lr=hyper["lr"])
    _assert_trees_identical(opt.update(params, small, state), unclipped.update(params, small, state))
    moved_clipped = opt.update(params, big, state)[0]["w"] - params["w"]
    moved_unclipped = unclipped.update(params, big, state)[0]["w"] - params["w"]
    assert np.max(np.abs(moved_clipped - moved_unclipped)) > 0.05 * np.max(np.abs(moved_unclipped))


def _ones(shapes, dtype=np.float64):
    return {k: np.ones(s, dtype) for k, s in shapes.items()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "grads, match",
    [
        (_ones({"w": (2, 3)}), r"grads keys do not match params: missing \['b'\], unexpected \[\]"),
        (_ones({"w": (2, 3), "b": (3,), "c": (1,)}), r"grads keys do not match params: missing \[\], unexpected \['c'\]"),
        (_ones({"w": (3, 2), "b": (3,)}), r"grads\['w'\] has shape \(3, 2\); expected params\['w'\]\.shape = \(2, 3\)"),
        (_ones({"w": (2, 3), "b": (3,)}, np.float32), r"grads\['w'\] has dtype float32; expected float64 to match params\['w'\]"),
        ({"w": np.ones((2, 3)), "b": [1.0, 1.0, 1.0]}, r"grads\['b'\] has type list; expected a float32 or float64"),
        ([np.ones(3)], r"grads has type list; expected a dict"),
    ],
)
def test_update_rejects_mismatched_grads(name, grads, match):
    init, update, hyper = CASES[name]
    params = _ones({"w": (2, 3), "b": (3,)})
    with pytest.raises(ValueError, match=match):
        update(params, grads, init(params), **hyper)


@pytest.mark.parametrize("name", ["momentum", "adagrad", "adam"])
def test_update_rejects_state_from_other_params_or_optimizer(name):
    init, update, hyper = CASES[name]
    params = _ones({"w": (2, 3)})
    other = init(_ones({"w": (3, 3)}))
    with pytest.raises(ValueError, match=r"state\['\w'\]\['w'\] has shape \(3, 3\); expected params\['w'\]\.shape"):
        update(params, params, other, **hyper)
    with pytest.raises(ValueError, match=r"state has keys \['step'\]; expected \["):
        update(params, params, optim.sgd_init(params), **hyper)
    for bad_step in (-1, True, 1.5):
        state = {**init(params), "step": bad_step}
        with pytest.raises(ValueError, match=r"state\['step'\] is .*; expected an integer >= 0"):
            update(params, params, state, **hyper)


def test_init_rejects_non_float_params():
    with pytest.raises(ValueError, match=r"params\['w'\] has shape \(2,\) and dtype int64; expected a float32"):
        optim.adam_init({"w": np.ones(2, dtype=np.int64)})
    with pytest.raises(ValueError, match=r"params has type list; expected a dict"):
        optim.sgd_init([np.ones(2)])


@pytest.mark.parametrize(
    "name, override, match",
    [
        ("sgd", dict(lr=-0.1), r"lr is -0\.1; expected a real number in \[0\.0, inf\)"),
        ("sgd", dict(lr=lambda t: float("nan")), r"lr\(0\) is nan; expected the schedule to return a finite float"),
        ("sgd", dict(weight_decay=-1.0), r"weight_decay is -1\.0"),
        ("momentum", dict(mu=1.0), r"mu is 1\.0; expected a real number in \[0\.0, 1\.0\)"),
        ("nesterov", dict(mu=-0.5), r"mu is -0\.5"),
        ("adagrad", dict(eps=0.0), r"eps is 0\.0; expected a real number in \(0\.0, inf\)"),
        ("rmsprop", dict(rho=1.5), r"rho is 1\.5"),
        ("adam", dict(beta1=1.0), r"beta1 is 1\.0"),
        ("adamw", dict(beta2="0.9"), r"beta2 is '0\.9'"),
    ],
)
def test_bad_hyperparameters_raise_in_update_and_constructor(name, override, match):
    init, update, hyper = CASES[name]
    params = _ones({"w": (2,)})
    with pytest.raises(ValueError, match=match):
        update(params, params, init(params), **{**hyper, **override})
    if not callable(override.get("lr")):
        with pytest.raises(ValueError, match=match):
            getattr(optim, name)(**{**hyper, **override})


def test_constructor_rejects_bad_clip_norm():
    with pytest.raises(ValueError, match=r"clip_norm is 0\.0; expected a real number in \(0\.0, inf\)"):
        optim.adam(clip_norm=0.0)
