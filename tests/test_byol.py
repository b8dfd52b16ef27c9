import copy

import pytest
import torch
import torch.nn.functional as F

from sslbook import augment, byol, models, train


def test_byol_loss_is_the_mse_of_normalised_vectors_and_zero_when_aligned():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    mse = ((F.normalize(p, dim=1) - F.normalize(z, dim=1)) ** 2).sum(dim=1).mean()
    assert byol.byol_loss(p, z).item() == pytest.approx(mse.item(), abs=1e-6)
    # A collapsed network (every prediction along its target) sits at the minimum, 0; opposite vectors at 4.
    assert byol.byol_loss(3 * z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert byol.byol_loss(-z, z).item() == pytest.approx(4.0, abs=1e-6)


def test_byol_loss_sends_no_gradient_into_the_target():
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    byol.byol_loss(p, z).backward()
    assert p.grad is not None and z.grad is None


def _model():
    return models.SimCLRModel(models.SmallCNN(1, feature_dim=16), models.ProjectionHead(16, 8))


def test_byol_step_trains_the_online_network_and_moves_the_target_by_ema(digits):
    torch.manual_seed(0)
    model, pred = _model(), models.ProjectionHead(8, 8, hidden_dim=4)
    target = copy.deepcopy(model)
    start = [t.clone() for t in target.parameters()]
    net = torch.nn.ModuleList([model, pred])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    step = byol.byol_step(model, pred, target, digits.x_train, augment.digit_views(), momentum=0.5,
                          generator=torch.Generator().manual_seed(0),
                          monitor=lambda z1, z2: {"n": len(z1)})
    h = train.fit(step, train.shuffled_batches(len(digits.train_idx), 16), opt, steps=3, model=net,
                  progress=False)
    assert all(0 <= v <= 4 for v in h.loss) and h.values["n"] == [16, 16, 16]
    assert all(not p.requires_grad for p in target.parameters())
    moved = [not torch.equal(a, b) for a, b in zip(start, target.parameters())]
    assert any(moved)
    # The target trails the online network: after training it equals neither its start nor the online one.
    online, tgt = next(model.parameters()), next(target.parameters())
    assert not torch.equal(online, tgt)


def test_byol_step_with_momentum_one_keeps_the_target_fixed(digits):
    torch.manual_seed(0)
    model, pred = _model(), models.ProjectionHead(8, 8)
    target = copy.deepcopy(model)
    start = [t.clone() for t in target.parameters()]
    opt = torch.optim.SGD([*model.parameters(), *pred.parameters()], lr=0.1)
    step = byol.byol_step(model, pred, target, digits.x_train, augment.digit_views(), momentum=1.0)
    train.fit(step, train.shuffled_batches(len(digits.train_idx), 8), opt, steps=2, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(start, target.parameters()))


def test_byol_step_rejects_bad_arguments(digits):
    model = _model()
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        byol.byol_step(model, torch.nn.Identity(), copy.deepcopy(model), digits.x_train, None, momentum=1.5)
    with pytest.raises(ValueError, match="target must be a separate copy"):
        byol.byol_step(model, torch.nn.Identity(), model, digits.x_train, None)
