"""sslbook.attention: the tiny Transformer and the masked patch autoencoder."""
import pytest
import torch

from sslbook import attention, masking


def test_tiny_transformer_uses_context():
    torch.manual_seed(0)
    m = attention.TinyTransformer(num_embeddings=12, dim=16, depth=1, heads=2, max_len=5)
    a = m(torch.tensor([[1, 2, 3, 4, 5]]))
    b = m(torch.tensor([[1, 2, 3, 4, 6]]))
    assert a.shape == (1, 5, 12) and not torch.allclose(a[0, 0], b[0, 0])  # the last word changes the first
    with pytest.raises(ValueError, match="L <= 5"):
        m(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible by heads"):
        attention.TinyTransformer(10, dim=10, heads=4)



def test_patch_autoencoder_loss_counts_only_masked_patches():
    torch.manual_seed(0)
    mae = attention.PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2)
    x = torch.rand(3, 1, 8, 8)
    mask = masking.random_patch_mask(3, mae.num_patches, 0.5, generator=torch.Generator().manual_seed(0))
    pred = mae(x, mask)
    target = masking.patchify(x, 2)
    assert pred.shape == target.shape == (3, 16, 4)
    assert mae.loss(x, mask).item() == pytest.approx(((pred - target) ** 2)[mask].mean().item(), rel=1e-5)
    assert mae.features(x).shape == (3, 16)
    with pytest.raises(ValueError, match="patch must divide"):
        attention.PatchMaskedAutoencoder(image_size=8, patch=3)


def test_patch_autoencoder_l1_criterion_is_simmims_absolute_error_on_masked_patches():
    torch.manual_seed(0)
    mse = attention.PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2)
    torch.manual_seed(0)
    l1 = attention.PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2, criterion="l1")
    assert mse.criterion == "mse"                                  # the default is unchanged
    x = torch.rand(3, 1, 8, 8)
    mask = masking.random_patch_mask(3, l1.num_patches, 0.5, generator=torch.Generator().manual_seed(1))
    pred, target = l1(x, mask).detach(), masking.patchify(x, 2)
    assert torch.equal(pred, mse(x, mask))                         # same weights, same forward pass
    hidden = [(i, j) for i in range(3) for j in range(16) if mask[i, j]]
    by_loop = sum(float((pred[i, j] - target[i, j]).abs().sum()) for i, j in hidden) / (4 * len(hidden))
    assert l1.loss(x, mask).item() == pytest.approx(by_loop, rel=1e-5)
    assert l1.loss(x, mask).item() != pytest.approx(mse.loss(x, mask).item(), rel=1e-3)
    with pytest.raises(ValueError, match="criterion must be one of"):
        attention.PatchMaskedAutoencoder(criterion="huber")



def test_padding_is_hidden_from_attention_and_from_sentence_features():
    torch.manual_seed(0)
    m = attention.TinyTransformer(12, dim=16, depth=1, heads=2, max_len=6, pad_id=0).eval()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    with torch.no_grad():
        f = m.sentence_features(ids)
        short = m.sentence_features(ids[:, :3])  # the same words without padding
        assert torch.allclose(f, short, atol=1e-5)
        assert torch.isfinite(m.sentence_features(torch.zeros(1, 6, dtype=torch.long))).all()
    with pytest.raises(ValueError, match="pad_id"):
        attention.TinyTransformer(12).sentence_features(ids)


def _mae(**kw):
    torch.manual_seed(0)
    return attention.MaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2, decoder_dim=8,
                                       decoder_heads=2, **kw).eval()


def test_mae_shapes_and_default_ratio():
    mae = _mae()
    x = torch.rand(5, 1, 8, 8)
    mask = mae.random_mask(5, generator=torch.Generator().manual_seed(0))
    assert mae.mask_ratio == 0.75 and mask.shape == (5, 16) and (mask.sum(1) == 12).all()
    assert mae.encode(x, mask).shape == (5, 4, 16)          # only the 4 visible patches are encoded
    assert mae(x, mask).shape == (5, 16, 4)
    assert mae.features(x).shape == (5, 16)
    colour = attention.MaskedAutoencoder(image_size=12, channels=3, patch=4, dim=16, heads=2, decoder_dim=8,
                                         decoder_heads=2, mask_ratio=0.5)
    assert colour(torch.rand(2, 3, 12, 12), colour.random_mask(2)).shape == (2, 9, 48)


def test_mae_random_masks_hide_exactly_the_count_and_differ_per_sample():
    mae = _mae()
    for ratio, hidden in ((0.25, 4), (0.5, 8), (0.75, 12), (0.9, 14)):
        mask = mae.random_mask(200, ratio, generator=torch.Generator().manual_seed(1))
        assert mask.dtype == torch.bool and (mask.sum(1) == hidden).all()
        assert len({tuple(r.tolist()) for r in mask}) > 60        # drawn per sample
    a = mae.random_mask(3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, mae.random_mask(3, generator=torch.Generator().manual_seed(2)))


def test_mae_encoder_never_sees_the_hidden_patches():
    mae = _mae()
    x = torch.rand(4, 1, 8, 8)
    mask = mae.random_mask(4, generator=torch.Generator().manual_seed(0))
    pixel_hidden = masking.unpatchify(mask.unsqueeze(-1).expand(-1, -1, 4).float(), 2, 1, 8, 8).bool()
    y = torch.where(pixel_hidden, torch.rand_like(x) * 10, x)         # change only the hidden pixels
    assert not torch.equal(x, y)
    with torch.no_grad():
        assert torch.equal(mae.encode(x, mask), mae.encode(y, mask))
        assert torch.equal(mae(x, mask), mae(y, mask))               # nor does the decoder, through the encoder
        z = torch.where(pixel_hidden, x, torch.rand_like(x))         # change a visible pixel: the encoding moves
        assert not torch.allclose(mae.encode(x, mask), mae.encode(z, mask))


def test_mae_encoder_keeps_the_visible_tokens_in_patch_order():
    mae = _mae()
    x = torch.rand(2, 1, 8, 8)
    mask = mae.random_mask(2, generator=torch.Generator().manual_seed(0))
    tokens = mae.embed(masking.patchify(x, 2)) + mae.positions
    with torch.no_grad():
        expected = torch.stack([mae.norm(mae.encoder(tokens[i][~mask[i]].unsqueeze(0)))[0] for i in range(2)])
        assert torch.allclose(mae.encode(x, mask), expected, atol=1e-5)


def test_mae_loss_counts_only_the_hidden_patches():
    mae = _mae()
    x = torch.rand(3, 1, 8, 8)
    mask = mae.random_mask(3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred, target = mae(x, mask), masking.patchify(x, 2)
        expected = sum(((pred[i, j] - target[i, j]) ** 2).sum() for i in range(3) for j in range(16) if mask[i, j])
        assert mae.loss(x, mask).item() == pytest.approx(expected.item() / (mask.sum().item() * 4), rel=1e-5)
        # a perfect prediction of the hidden patches gives zero loss, whatever is predicted at the visible ones
        mae.forward = lambda images, m: torch.where(m.unsqueeze(-1), target, target + 5.0)
        assert mae.loss(x, mask).item() == 0.0
        del mae.forward
    mae.train()
    mae.loss(x, generator=torch.Generator().manual_seed(0)).backward()   # a fresh mask at the model's ratio
    assert mae.mask_token.grad is not None and mae.embed.weight.grad is not None


def test_mae_normalised_targets():
    mae = _mae(norm_pix_loss=True)
    x = torch.rand(2, 1, 8, 8)
    t = mae.targets(x)
    assert torch.allclose(t.mean(-1), torch.zeros(2, 16), atol=1e-5)
    assert torch.allclose(t.var(-1, unbiased=False), torch.ones(2, 16), atol=1e-3)
    assert torch.equal(_mae().targets(x), masking.patchify(x, 2))


def test_sincos_positions_are_distinct_and_bounded():
    p = attention.sincos_positions(4, 16)
    assert p.shape == (16, 16) and p.abs().max() <= 1
    assert len({tuple(r.round(decimals=4).tolist()) for r in p}) == 16
    with pytest.raises(ValueError, match="dim must be a positive multiple of 4"):
        attention.sincos_positions(4, 6)


@pytest.mark.parametrize("kwargs,match", [
    ({"mask_ratio": 0.0}, r"mask_ratio must be in \(0, 1\), got 0.0"),
    ({"mask_ratio": 1.0}, r"mask_ratio must be in \(0, 1\), got 1.0"),
    ({"mask_ratio": 1.5}, "mask_ratio"),
    ({"mask_ratio": 0.01}, "mask_ratio must hide at least 1"),
    ({"mask_ratio": 0.99}, "mask_ratio must hide at least 1 and at most 15"),
    ({"image_size": 8, "patch": 3}, r"image_size must be divisible by patch \(3\), got 8"),
    ({"image_size": 8, "patch": 8}, "at least 2 patches"),
    ({"dim": 30, "heads": 4}, "dim must be divisible by heads"),
    ({"dim": 18, "heads": 2}, "multiples of 4"),
    ({"decoder_dim": 12, "decoder_heads": 8}, "decoder_dim must be divisible by decoder_heads"),
    ({"depth": 0}, "depth must be an integer >= 1"),
])
def test_mae_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        attention.MaskedAutoencoder(**kwargs)


def test_mae_rejects_bad_images_and_masks():
    mae = _mae()
    x = torch.rand(2, 1, 8, 8)
    good = mae.random_mask(2)
    with pytest.raises(ValueError, match=r"images must be N x 1 x 8 x 8"):
        mae(torch.rand(2, 1, 6, 6), good)
    with pytest.raises(ValueError, match="bool tensor of shape"):
        mae(x, good.float())
    with pytest.raises(ValueError, match="bool tensor of shape"):
        mae(x, mae.random_mask(3))
    uneven = good.clone()
    uneven[0] = False
    uneven[0, :3] = True
    with pytest.raises(ValueError, match="same number of patches in every row"):
        mae(x, uneven)
    with pytest.raises(ValueError, match="between 1 and 15"):
        mae(x, torch.ones(2, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask_ratio"):
        mae.random_mask(2, 1.0)
