"""The built-in models: shapes, noise points in forward order, layouts, determinism, keys."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from trainables.models import NoiseInjection, build_model, noise_points


@pytest.fixture(scope="module")
def big_models() -> dict[str, nn.Module]:
    """vgg16 / resnet18 are built once per module: construction is the costly part."""
    out = {}
    for name in ("vgg16", "resnet18"):
        torch.manual_seed(0)
        out[name] = build_model(name, (3, 32, 32), 10)
    return out


@pytest.mark.parametrize(
    "name, shape",
    [
        ("mlp", (64,)),
        ("mlp", (1, 8, 8)),
        ("mlp", (1, 40)),
        ("cnn", (1, 40)),
        ("cnn", (1, 8, 8)),
        ("cnn", (1, 28, 28)),
        ("cnn", (3, 32, 32)),
    ],
)
def test_small_model_shapes(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    m = build_model(name, shape, 7)
    assert m(torch.randn(5, *shape)).shape == (5, 7)


def test_regression_head_has_one_output() -> None:
    m = build_model("mlp", (10,), 1, width=16)
    assert m(torch.randn(3, 10)).shape == (3, 1)


@pytest.mark.parametrize("name, n_points", [("vgg16", 13), ("resnet18", 20)])
def test_big_models_forward_and_points(big_models, name: str, n_points: int) -> None:
    m = big_models[name]
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert len(noise_points(m)) == n_points


def test_resnet18_adapted_to_32x32(big_models) -> None:
    m = big_models["resnet18"]
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert isinstance(m.maxpool, nn.Identity)
    # noise after bn2 sits on the residual branch, before the addition
    block = m.layer2[0]
    assert isinstance(block.bn2, nn.Sequential) and isinstance(block.bn2[1], NoiseInjection)
    assert isinstance(block.downsample[1][1], NoiseInjection)


def test_other_channel_counts() -> None:
    torch.manual_seed(0)
    m = build_model("resnet18", (1, 28, 28), 10)
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_mlp_noise_point_count(depth: int) -> None:
    assert len(noise_points(build_model("mlp", (64,), 10, width=32, depth=depth))) == depth


def test_cnn_noise_point_count_and_greydanus_shape() -> None:
    m = build_model("cnn", (1, 40), 10)
    assert len(noise_points(m)) == 3
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [25, 25, 25]
    assert [c.stride for c in convs] == [(2,), (2,), (2,)]
    assert [c.padding for c in convs] == [(1,), (1,), (1,)]
    assert m.head.in_features == 125  # 25 channels x length 5, as in Greydanus' ConvBase
    assert all(isinstance(mod, nn.BatchNorm1d) for mod in m.modules() if "BatchNorm" in type(mod).__name__)


@pytest.mark.parametrize("name, shape", [("mlp", (64,)), ("cnn", (1, 40)), ("cnn", (1, 8, 8))])
def test_noise_points_in_forward_order(name: str, shape: tuple[int, ...]) -> None:
    _assert_forward_order(build_model(name, shape, 10, width=16), shape)


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_big_noise_points_in_forward_order(big_models, name: str) -> None:
    _assert_forward_order(big_models[name], (3, 32, 32))


def _assert_forward_order(m: nn.Module, shape: tuple[int, ...]) -> None:
    points = noise_points(m)
    calls: list[int] = []
    handles = [p.register_forward_hook(lambda mod, i, o, k=k: calls.append(k)) for k, p in enumerate(points)]
    try:
        m.eval()
        with torch.no_grad():
            m(torch.randn(1, *shape))
    finally:
        for h in handles:
            h.remove()
    assert calls == list(range(len(points)))


def test_sigma_zero_model_equals_plain_model() -> None:
    torch.manual_seed(0)
    m = build_model("mlp", (20,), 3, width=16)
    x = torch.randn(6, 20)
    y_none = m(x)
    for p in noise_points(m):
        p.sigma = torch.tensor(0.0)
    assert torch.equal(m(x), y_none)
    for p in noise_points(m):
        p.sigma = torch.tensor(1.0)
    assert not torch.equal(m(x), y_none)


def test_noise_attributes_not_in_state_dict() -> None:
    m = build_model("mlp", (20,), 3, width=16)
    for p in noise_points(m):
        p.sigma = torch.tensor(0.1, requires_grad=True)
    names = set(m.state_dict())
    assert not any("sigma" in n for n in names)
    assert len(list(m.parameters())) == len(list(build_model("mlp", (20,), 3, width=16).parameters()))


@pytest.mark.parametrize("name, shape", [("mlp", (64,)), ("cnn", (1, 40)), ("cnn", (1, 8, 8))])
def test_seeded_construction_is_deterministic(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(5)
    a = build_model(name, shape, 10).state_dict()
    torch.manual_seed(5)
    b = build_model(name, shape, 10).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_dropout_does_not_change_state_dict_keys() -> None:
    for name, shape in [("mlp", (64,)), ("cnn", (1, 40))]:
        a = build_model(name, shape, 10, dropout=0.0).state_dict().keys()
        b = build_model(name, shape, 10, dropout=0.5).state_dict().keys()
        assert a == b
    m = build_model("mlp", (64,), 10, width=8, dropout=0.25)
    assert [d.p for d in m.modules() if isinstance(d, nn.Dropout)] == [0.25, 0.25]


def test_mlp_layout() -> None:
    m = build_model("mlp", (64,), 10, width=32, depth=2)
    block = m.blocks[0]
    assert [type(c).__name__ for c in block] == ["Linear", "LayerNorm", "NoiseInjection", "ReLU", "Dropout"]
    assert m.blocks[0].linear.out_features == 32 and m.head.out_features == 10
    plain = build_model("mlp", (64,), 10, width=32, norm=False)
    assert not any(isinstance(mod, nn.LayerNorm) for mod in plain.modules())
    assert build_model("mlp", (64,), 10).blocks[0].linear.out_features == 512



def test_state_dict_keys_and_seeded_weights_are_unchanged() -> None:
    """Checkpoints written before the models became one file each still load: the keys (and,
    for a seeded build, the weights) are those of the old single-file models, pinned here.
    The cnn digests changed once, when its shape probe stopped updating BatchNorm's running
    statistics (before, they held the probe's float reductions, which differ between CPUs)."""
    expected = {
        ("mlp", (1, 40)): (10, "a18da2c04eedf4e2"),
        ("cnn", (1, 40)): (23, "cdb3c0396ee2f7f3"),
        ("cnn", (1, 8, 8)): (23, "2d975aab5a99a66d"),
        ("linear", (10,)): (2, "a4422c1877aee0e4"),
    }
    for (name, shape), (n_keys, digest) in expected.items():
        torch.manual_seed(0)
        state = build_model(name, shape, 10).state_dict()
        h = hashlib.sha256()
        for key, tensor in state.items():
            h.update(key.encode())
            h.update(tensor.numpy().tobytes())
        assert (len(state), h.hexdigest()[:16]) == (n_keys, digest), (name, shape)


def test_cnn_shape_probe_leaves_batchnorm_statistics_alone() -> None:
    """A fresh cnn's BatchNorm layers hold their initial statistics (mean 0, var 1, no batch
    seen): the forward pass that infers the head's size must not count as a training batch."""
    for shape in ((1, 40), (1, 8, 8)):
        for pool in (("none",) if len(shape) == 2 else ("none", "max", "fractional")):
            model = build_model("cnn", shape, 10, pool=pool)
            norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            assert norms and model.training
            for bn in norms:
                assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
                assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
                assert int(bn.num_batches_tracked) == 0


def test_big_models_keep_their_noise_wrapped_keys(big_models) -> None:
    resnet = big_models["resnet18"].state_dict()
    assert len(resnet) == 122 and "bn1.0.running_mean" in resnet
    assert "layer2.0.downsample.1.0.weight" in resnet
    vgg = big_models["vgg16"].state_dict()
    assert len(vgg) == 93 and "features.1.0.weight" in vgg and "head.weight" in vgg
