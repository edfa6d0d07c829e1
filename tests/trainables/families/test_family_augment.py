"""The augment family: identity at zero magnitudes, gradients through the warp, a translation
of exactly the drawn pixels, and images only."""

from __future__ import annotations

import pytest
import torch

from trainables import ConfigError, rho_names
from trainables.families.augment import AugmentFamily


def test_augment_with_zero_magnitudes_is_the_identity_and_grads_flow():
    x = torch.rand(4, 1, 8, 8)
    fixed = AugmentFamily([0.0, 0.0, 0.0], learned=False, generator=None, image_size=(8, 8))
    assert torch.equal(fixed.transform_inputs(x, 1), x)
    learned = AugmentFamily([1.0, 5.0, 0.1], learned=True, generator=torch.Generator().manual_seed(0),
                            image_size=(8, 8))
    out = learned.transform_inputs(x, 3)
    assert out.shape == (12, 1, 8, 8)
    (grad,) = torch.autograd.grad(out.sum(), [learned.magnitude])
    assert torch.all(grad != 0)


def test_augment_translation_moves_pixels_by_the_magnitude():
    """A pure translation of 1 pixel with u = 1 shifts the image by exactly one pixel."""
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0

    fam = AugmentFamily([1.0, 0.0, 0.0], learned=False, generator=None, image_size=(8, 8))
    torch.manual_seed(0)
    u = torch.rand((1, 4)) * 2 - 1
    torch.manual_seed(0)
    out = fam.transform_inputs(x, 1)
    # affine_grid maps output pixel p to input p + t: the bright pixel moves by -t
    shift_x, shift_y = float(u[0, 2]), float(u[0, 3])
    com_x = float((out[0, 0].sum(0) * torch.arange(8.0)).sum() / out.sum())
    com_y = float((out[0, 0].sum(1) * torch.arange(8.0)).sum() / out.sum())
    assert com_x == pytest.approx(3 - shift_x, abs=1e-4)
    assert com_y == pytest.approx(3 - shift_y, abs=1e-4)


def test_rho_names_are_the_three_magnitudes_and_need_images() -> None:
    assert rho_names({"family": "augment", "dataset": "digits", "model": "cnn"}) == (
        "translate", "rotate", "shear")
    with pytest.raises(ConfigError, match="family='augment' needs image inputs"):
        rho_names({"family": "augment", "dataset": "diabetes"})
