import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fnn.checkpoint as checkpoint
from fnn.checkpoint import load, save


def sample_params():
    rng = np.random.default_rng(0)
    return {
        "dense1.w": rng.standard_normal((4, 3)).astype(np.float32),
        "dense1.b": np.zeros(3, np.float32),
        "embed.table": rng.standard_normal((5, 2)),
    }


def sample_state(params):
    return {
        "step": 3,
        "lr": 0.001,
        "nesterov": True,
        "beta1": np.float32(0.9),
        "m": {k: np.full_like(v, 0.5) for k, v in params.items()},
        "schedule": ("cosine", None, [1, 2.5]),
        "scalar_array": np.array(7, np.int32),
    }


def test_round_trip_params_nested_state_and_metadata_exactly(tmp_path):
    params = sample_params()
    state = sample_state(params)
    path = tmp_path / "ckpt.npz"
    save(path, params, state, metadata={"epoch": 4, "model": "mlp", "sizes": [784, 100, 10]})
    loaded_params, loaded_state, metadata = load(path)

    assert list(loaded_params) == list(params)
    for key, value in params.items():
        assert loaded_params[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded_params[key], value)
    assert metadata == {"epoch": 4, "model": "mlp", "sizes": [784, 100, 10]}
    assert type(loaded_state["step"]) is int and loaded_state["step"] == 3
    assert type(loaded_state["lr"]) is float and loaded_state["lr"] == 0.001
    assert loaded_state["nesterov"] is True
    assert type(loaded_state["beta1"]) is np.float32 and loaded_state["beta1"] == np.float32(0.9)
    assert loaded_state["schedule"] == ("cosine", None, [1, 2.5])
    assert type(loaded_state["schedule"][2][0]) is int
    assert isinstance(loaded_state["scalar_array"], np.ndarray) and loaded_state["scalar_array"].dtype == np.int32
    assert loaded_state["scalar_array"].shape == () and loaded_state["scalar_array"] == 7
    assert list(loaded_state["m"]) == list(params)
    for key, value in state["m"].items():
        assert loaded_state["m"][key].dtype == value.dtype
        np.testing.assert_array_equal(loaded_state["m"][key], value)


def test_archive_layout_uses_readable_keys(tmp_path):
    params = sample_params()
    save(tmp_path / "c.npz", params, {"step": 3, "m": {"dense1.w": params["dense1.w"]}}, metadata={"a": 1})
    with np.load(tmp_path / "c.npz", allow_pickle=False) as archive:
        names = set(archive.files)
        assert {"params/dense1.w", "params/dense1.b", "params/embed.table", "opt/step", "opt/m/dense1.w"} <= names
        assert archive["opt/step"].shape == () and archive["opt/step"] == 3
        assert archive["metadata"].dtype.kind == "U" and json.loads(str(archive["metadata"])) == {"a": 1}


def test_none_state_and_metadata_round_trip(tmp_path):
    save(tmp_path / "c.npz", {"w": np.ones(2)})
    params, state, metadata = load(tmp_path / "c.npz")
    assert state is None and metadata is None
    np.testing.assert_array_equal(params["w"], np.ones(2))


@given(
    shapes=st.lists(st.lists(st.integers(0, 3), max_size=3), min_size=1, max_size=4),
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
    step=st.integers(-(2**63), 2**63 - 1),
)
def test_round_trip_any_shapes_dtypes_and_int64_range(tmp_path_factory, shapes, dtype, step):
    folder = tmp_path_factory.mktemp("ckpt")
    params = {f"layer{i}.w": np.arange(int(np.prod(s)), dtype=np.int64).reshape(s).astype(dtype) for i, s in enumerate(shapes)}
    save(folder / "c.npz", params, {"step": step})
    loaded, state, _ = load(folder / "c.npz", like=params)
    assert state == {"step": step}
    for key in params:
        assert loaded[key].dtype == params[key].dtype and loaded[key].shape == params[key].shape
        np.testing.assert_array_equal(loaded[key], params[key])


def test_save_does_not_mutate_and_load_returns_independent_arrays(tmp_path):
    params = sample_params()
    copies = {k: v.copy() for k, v in params.items()}
    save(tmp_path / "c.npz", params)
    loaded, _, _ = load(tmp_path / "c.npz")
    loaded["dense1.w"] += 1
    for key in params:
        np.testing.assert_array_equal(params[key], copies[key])


def test_like_reports_every_missing_unexpected_and_mismatched_key(tmp_path):
    save(tmp_path / "c.npz", sample_params())
    like = {
        "dense1.w": np.zeros((3, 4), np.float32),   # wrong shape
        "dense1.b": np.zeros(3, np.float64),        # wrong dtype
        "dense2.w": np.zeros((3, 2), np.float32),   # missing from the file
    }                                               # embed.table is unexpected
    with pytest.raises(ValueError) as info:
        load(tmp_path / "c.npz", like=like)
    message = str(info.value)
    assert "key 'dense1.w': expected shape (3, 4) float32, found shape (4, 3) float32" in message
    assert "key 'dense1.b': expected shape (3,) float64, found shape (3,) float32" in message
    assert "missing key 'dense2.w': expected shape (3, 2) float32" in message
    assert "unexpected key 'embed.table': found shape (5, 2) float64" in message


def test_like_orders_params_like_the_model(tmp_path):
    params = sample_params()
    save(tmp_path / "c.npz", params)
    like = dict(reversed(list(params.items())))
    loaded, _, _ = load(tmp_path / "c.npz", like=like)
    assert list(loaded) == list(like)


def fail_midway(file, arrays):
    file.write(b"PK\x03\x04 half an archive")
    raise OSError("disk full")


def test_failed_write_keeps_the_old_checkpoint_and_leaves_no_temporaries(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    save(path, {"w": np.ones(3)}, {"step": 1})
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint, "_write_npz", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        save(path, {"w": np.zeros(3)}, {"step": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]
    params, state, _ = load(path)
    assert state == {"step": 1} and params["w"].tolist() == [1.0, 1.0, 1.0]


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "_write_npz", fail_midway)
    with pytest.raises(OSError):
        save(tmp_path / "c.npz", {"w": np.ones(3)})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "params, state, match",
    [
        ({"w": np.array([{"a": 1}], dtype=object)}, None, r"params\['w'\] has dtype object; object arrays need pickle"),
        ({"w": np.ones(2)}, {"m": np.array([None], dtype=object)}, r"opt/m has dtype object"),
        ({"w": [1.0, 2.0]}, None, r"params\['w'\] has type list; expected a numpy array"),
        ({"w": np.ones(2)}, {"fn": len}, r"opt/fn has type builtin_function_or_method; expected dicts"),
        ({"w": np.ones(2)}, {"a/b": 1}, r"opt_state key 'a/b' at opt is not storable"),
        ({"w": np.ones(2)}, {1: 1}, r"opt_state key 1 at opt is not storable"),
        ({"w": np.ones(2)}, {"step": 2**70}, r"opt/step is 1180591620717411303424; expected an int that fits in int64"),
    ],
)
def test_save_rejects_unstorable_values_and_writes_nothing(tmp_path, params, state, match):
    with pytest.raises(ValueError, match=match):
        save(tmp_path / "c.npz", params, state)
    assert os.listdir(tmp_path) == []


def test_save_rejects_non_json_metadata(tmp_path):
    with pytest.raises(ValueError, match=r"metadata is not JSON-serialisable"):
        save(tmp_path / "c.npz", {"w": np.ones(2)}, metadata={"array": np.ones(2)})


def test_load_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    good = tmp_path / "good.npz"
    save(good, {"w": np.ones(2)})
    with np.load(good) as archive:
        entries = {name: archive[name] for name in archive.files}
    # np.savez pickles object arrays by default; load must refuse rather than unpickle.
    entries["params/w"] = np.array([{"payload": 1}], dtype=object)
    np.savez(path, **entries)
    with pytest.raises(ValueError, match=r"evil\.npz: refused to load an entry .*allow_pickle"):
        load(path)


def test_load_rejects_files_that_are_not_checkpoints(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match=r"plain\.npz: no 'structure' entry; expected an archive written by fnn\.checkpoint\.save"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(2))
    with pytest.raises(ValueError, match=r"single\.npy: holds a single array"):
        load(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.npz: not a readable fnn checkpoint"):
        load(tmp_path / "text.npz")
