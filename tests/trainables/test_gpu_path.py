"""The GPU path where a CPU can exercise it: channels_last (applied on every device), bf16
autocast that really computes in bfloat16, and, where CUDA exists, the CUDA generator states
a checkpoint saves."""

from __future__ import annotations

import math

import pytest
import torch
from restoring import roundtrip
from torch import nn

from trainables.trial import Trial

# SGD, not Adam: a conv bias before BatchNorm has a gradient of zero up to rounding, which
# Adam normalises into full-size steps, so the two layouts' rounding would move it apart
CNN = {"dataset": "digits", "n_train": 200, "model": "cnn", "width": 8, "epochs": 1,
       "batch_size": 32, "eval_batch_size": 128, "seed": 4, "device": "cpu",
       "optimizer": "sgd", "lr": 0.05}


def _convs(trial: Trial) -> list[nn.Conv2d]:
    return [m for m in trial.model.modules() if isinstance(m, nn.Conv2d)]


def test_channels_last_applies_on_cpu_and_matches_the_default_layout():
    fast = Trial({**CNN, "channels_last": True})
    plain = Trial({**CNN, "channels_last": False})
    convs = _convs(fast)
    assert len(convs) == 3
    for conv in convs:
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # with more than one input channel the two layouts differ: the flag really changed it
    assert not convs[1].weight.is_contiguous()
    assert _convs(plain)[1].weight.is_contiguous()

    row_fast, row_plain = fast.run_epoch(), plain.run_epoch()
    assert _convs(fast)[1].weight.is_contiguous(memory_format=torch.channels_last)  # kept by steps
    plain_weights = plain.model.state_dict()
    for name, tensor in fast.model.state_dict().items():
        torch.testing.assert_close(tensor, plain_weights[name], rtol=1e-4, atol=1e-5)
    for key in ("train_loss", "val_loss", "test_loss", "test_acc"):
        assert row_fast[key] == pytest.approx(row_plain[key], rel=1e-4, abs=1e-5), key


MLP = {"dataset": "digits", "n_train": 200, "model": "mlp", "width": 32, "epochs": 1,
       "batch_size": 32, "family": "noise", "mode": "cross_reg", "rho": 0.1, "device": "cpu"}


@pytest.mark.parametrize("bf16,dtype", [(True, torch.bfloat16), (False, torch.float32)])
def test_bf16_forward_runs_in_bfloat16(bf16, dtype):
    """A forward hook on the hidden and output Linear layers sees the dtype every step (theta
    steps, rho steps, evaluation) computed in; the loss and the reported metrics stay float32
    (the engine takes float32 softmax of the outputs)."""
    trial = Trial({**MLP, "bf16": bf16})
    seen: set[torch.dtype] = set()
    for module in trial.model.modules():
        if isinstance(module, nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    row = trial.run_epoch()
    assert seen == {dtype}
    assert row["fwd_reg"] > 0 and math.isfinite(row["test_nll"])
    assert all(p.dtype == torch.float32 for p in trial.model.parameters())  # master weights


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs CUDA: the CUDA generator states (the noise generator on the GPU, "
                           "torch's CUDA default generator for dropout) exist only on a GPU")
@pytest.mark.parametrize("members", [1, 2])
def test_cuda_generator_states_round_trip(members):
    cfg = {**MLP, "device": "cuda", "mode": "fixed", "rho": 0.3, "dropout": 0.2, "epochs": 3,
           "members": members}
    straight = Trial(cfg)  # run whole first: a single network shares the process's generators
    straight_rows = [straight.run_epoch() for _ in range(3)]
    first = Trial(cfg)
    first.run_epoch()
    state = roundtrip(first.state_dict(), map_location="cpu")  # as train_fn loads it
    member_states = state.get("members", [state])
    assert all(s["cuda_rng"] is not None and s["noise_rng"] is not None for s in member_states)

    torch.cuda.manual_seed(12345)  # a restored process starts from unrelated CUDA state
    second = Trial(cfg)
    second.load_state_dict(state)
    for saved, member in zip(member_states, second.members):
        assert torch.equal(member.regularizer.generator.get_state(), saved["noise_rng"])
        restored = member.cuda_rng if members > 1 else torch.cuda.get_rng_state(member.device)
        assert torch.equal(restored, saved["cuda_rng"])

    rows = [second.run_epoch() for _ in range(2)]
    for a, b in zip(rows, straight_rows[1:]):  # the same draws from here on
        for key in ("train_loss", "val_loss", "test_loss", "test_acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
