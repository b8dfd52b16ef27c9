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
