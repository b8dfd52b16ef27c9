import pytest
import torch

from sslbook import masking


def test_mask_tokens_meets_berts_proportions_on_100k_tokens():
    vocab, mask_id = 500, 500
    ids = torch.randint(1, vocab, (1000, 100), generator=torch.Generator().manual_seed(0))
    ids[:, -5:] = 0  # padding, declared special
    inputs, labels = masking.mask_tokens(ids, 0.15, mask_id, vocab, special_ids=(0,),
                                         generator=torch.Generator().manual_seed(1))
    eligible = ids != 0
    chosen = labels != -100
    assert abs(chosen.sum().item() / eligible.sum().item() - 0.15) <= 0.005
    assert not chosen[~eligible].any()
    assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    masked = (inputs[chosen] == mask_id).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    random = 1 - masked - kept
    assert abs(masked - 0.8) <= 0.015 and abs(kept - 0.1) <= 0.015 and abs(random - 0.1) <= 0.015
    swapped = inputs[chosen & (inputs != mask_id) & (inputs != ids)]
    assert swapped.min() >= 1 and swapped.max() < vocab  # random tokens are real, non-special words


def test_mask_tokens_is_reproducible_and_chooses_at_least_one():
    ids = torch.arange(1, 11).view(1, 10)
    a = masking.mask_tokens(ids, 0.01, 11, 11, generator=torch.Generator().manual_seed(0))
    b = masking.mask_tokens(ids, 0.01, 11, 11, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and (a[1] != -100).sum() == 1
    _, labels = masking.mask_tokens(ids, 1.0, 11, 11)
    assert (labels != -100).all()


@pytest.mark.parametrize("kwargs,match", [
    ({"mask_ratio": 0}, "mask_ratio"), ({"mask_ratio": 1.5}, "mask_ratio"), ({"mask_ratio": -0.1}, "mask_ratio"),
    ({"mask_id": 5}, r"mask_id must be a reserved id that no ordinary token uses: an integer >= vocab_size \(10\)"),
    ({"mask_id": -1}, "mask_id"), ({"mask_id": 5, "special_ids": (0,)}, "one of special_ids"),
    ({"ids": torch.rand(2, 3)}, "integer tensor"), ({"ids": [[1, 2]]}, "torch.Tensor"),
    ({"ids": torch.tensor([[1, 20]])}, r"ids must lie in \[0, vocab_size = 10\)"),
    ({"ids": torch.tensor([[0, 0]]), "special_ids": (0,)}, "no token that may be masked"),
])
def test_mask_tokens_rejects_bad_input(kwargs, match):
    args = {"ids": torch.tensor([[1, 2, 3]]), "mask_ratio": 0.5, "mask_id": 10, "vocab_size": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        masking.mask_tokens(**args)


def test_mask_id_may_be_a_reserved_entry_inside_the_id_range():
    """As in BERT, [MASK] can be a reserved entry of the vocabulary (here id 1, declared special)."""
    ids = torch.randint(2, 30, (200, 50), generator=torch.Generator().manual_seed(0))
    inputs, labels = masking.mask_tokens(ids, 0.15, mask_id=1, vocab_size=30, special_ids=(0, 1),
                                         generator=torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert (inputs[chosen] == 1).float().mean().item() == pytest.approx(0.8, abs=0.03)
    replaced = inputs[chosen & (inputs != 1) & (inputs != ids)]
    assert replaced.numel() > 0 and replaced.min() >= 2          # random words are never special
    assert (inputs[~chosen] != 1).all()


def test_patchify_round_trip_and_order():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    p = masking.patchify(x, 2)
    assert p.shape == (2, 6, 12)
    assert torch.equal(masking.unpatchify(p, 2, 3, 4, 6), x)
    assert torch.equal(p[0, 1, :4], x[0, 0, :2, 2:4].flatten())  # second patch, first channel
    with pytest.raises(ValueError, match="patch must divide"):
        masking.patchify(x, 4)


def test_random_patch_mask_counts_per_row():
    m = masking.random_patch_mask(50, 16, 0.75, generator=torch.Generator().manual_seed(0))
    assert m.dtype == torch.bool and (m.sum(1) == 12).all()
    assert len({tuple(r.tolist()) for r in m}) > 40  # drawn per sample
    with pytest.raises(ValueError, match="mask_ratio"):
        masking.random_patch_mask(2, 16, 0.0)


def test_sliding_patches():
    image = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 6, 6)
    p, grid = masking.sliding_patches(image, 4, 2)
    assert grid == (2, 2) and p.shape == (4, 2, 4, 4)
    assert torch.equal(p[1], image[:, 0:4, 2:6]) and torch.equal(p[2], image[:, 2:6, 0:4])
    with pytest.raises(ValueError, match="size must be at most"):
        masking.sliding_patches(image, 7, 1)
