import pytest
import torch

from sslbook import masking, models


def test_momentum_update_moves_towards_online():
    online, target = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = target.weight.detach().clone()
    models.momentum_update(online, target, momentum=0.9)
    assert torch.allclose(target.weight, 0.9 * before + 0.1 * online.weight)
    models.momentum_update(online, target, momentum=0.0)
    assert torch.equal(target.weight, online.weight)
    with pytest.raises(ValueError, match="momentum"):
        models.momentum_update(online, target, momentum=1.5)


def test_feature_queue_is_first_in_first_out():
    q = models.FeatureQueue(5, 2)
    assert len(q) == 0 and q.features.shape == (0, 2)
    q.enqueue(torch.arange(6.0).view(3, 2))
    q.enqueue(torch.arange(6.0, 12.0).view(3, 2) )
    assert len(q) == 5
    kept = {tuple(r.tolist()) for r in q.features}
    assert (0.0, 1.0) not in kept and (10.0, 11.0) in kept and (2.0, 3.0) in kept
    with pytest.raises(ValueError, match="keys must be B x 2"):
        q.enqueue(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="size"):
        models.FeatureQueue(0, 2)


def test_tiny_transformer_uses_context():
    torch.manual_seed(0)
    m = models.TinyTransformer(num_embeddings=12, dim=16, depth=1, heads=2, max_len=5)
    a = m(torch.tensor([[1, 2, 3, 4, 5]]))
    b = m(torch.tensor([[1, 2, 3, 4, 6]]))
    assert a.shape == (1, 5, 12) and not torch.allclose(a[0, 0], b[0, 0])  # the last word changes the first
    with pytest.raises(ValueError, match="L <= 5"):
        m(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible by heads"):
        models.TinyTransformer(10, dim=10, heads=4)


def test_patch_autoencoder_loss_counts_only_masked_patches():
    torch.manual_seed(0)
    mae = models.PatchMaskedAutoencoder(image_size=8, patch=2, dim=16, depth=1, heads=2)
    x = torch.rand(3, 1, 8, 8)
    mask = masking.random_patch_mask(3, mae.num_patches, 0.5, generator=torch.Generator().manual_seed(0))
    pred = mae(x, mask)
    target = masking.patchify(x, 2)
    assert pred.shape == target.shape == (3, 16, 4)
    assert mae.loss(x, mask).item() == pytest.approx(((pred - target) ** 2)[mask].mean().item(), rel=1e-5)
    assert mae.features(x).shape == (3, 16)
    with pytest.raises(ValueError, match="patch must divide"):
        models.PatchMaskedAutoencoder(image_size=8, patch=3)
