"""sslbook.models: encoders, heads, queues, the article's CNN, the factories."""
import pytest
import torch

from sslbook import models


@pytest.mark.parametrize("channels,size", [(1, 8), (3, 32), (3, 17)])
def test_small_cnn_output_shape(channels, size):
    enc = models.SmallCNN(in_channels=channels, feature_dim=40)
    assert enc(torch.rand(3, channels, size, size)).shape == (3, 40)


def test_simclr_model_encodes_and_projects():
    m = models.SimCLRModel(models.SmallCNN(1), models.ProjectionHead(128, 16, hidden_dim=32))
    x = torch.rand(6, 1, 8, 8)
    assert m(x).shape == (6, 16) and m.encode(x).shape == (6, 128)
    assert models.count_parameters(m) > models.count_parameters(m.encoder)


def test_small_cnn_rejects_wrong_channels():
    with pytest.raises(ValueError, match=r"x must be N x 1 x H x W, got shape \(2, 3, 8, 8\)"):
        models.SmallCNN(1)(torch.rand(2, 3, 8, 8))


@pytest.mark.parametrize("kwargs,name", [
    ({"in_channels": 0}, "in_channels"), ({"feature_dim": -1}, "feature_dim"),
    ({"widths": ()}, "widths"), ({"widths": (8, 0)}, "widths"),
])
def test_small_cnn_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        models.SmallCNN(**kwargs)


@pytest.mark.parametrize("kwargs,name", [
    ({"in_dim": 0, "out_dim": 4}, "in_dim"), ({"in_dim": 4, "out_dim": 0}, "out_dim"),
    ({"in_dim": 4, "out_dim": 4, "hidden_dim": 0}, "hidden_dim"),
])
def test_projection_head_rejects_bad_settings(kwargs, name):
    with pytest.raises(ValueError, match=name):
        models.ProjectionHead(**kwargs)


def test_encoders_and_classifier_shapes():
    assert models.encoder("small")(torch.rand(3, 3, 32, 32)).shape == (3, 256)
    assert models.classifier("small")(torch.rand(3, 3, 32, 32)).shape == (3, 10)
    assert models.encoder("resnet18").feature_dim == 512
    with pytest.raises(ValueError, match="arch must be one of"):
        models.encoder("vit")


def test_article_cnn_parameters_follow_the_input_size():
    for size in (32, 224):
        net = models.ArticleCNN(size)
        assert net(torch.rand(2, 3, size, size)).shape == (2, 10)
        fc1 = net.head[0]
        assert fc1.weight.shape == (128, 16 * (size // 2) ** 2)
    # 224 x 224: the first linear layer alone has 25.7 M parameters, 32 x 32: 0.52 M.
    assert sum(p.numel() for p in models.ArticleCNN(224).head[0].parameters()) == 25_690_240
    assert sum(p.numel() for p in models.ArticleCNN(32).head[0].parameters()) == 524_416


@pytest.mark.parametrize("size,match", [(31, "size must be even"), (0, "size must be")])
def test_article_cnn_rejects_bad_sizes(size, match):
    with pytest.raises(ValueError, match=match):
        models.ArticleCNN(size)


def test_article_cnn_rejects_the_wrong_input_size():
    with pytest.raises(ValueError, match=r"x must be N x 3 x 224 x 224, got shape \(1, 3, 32, 32\)"):
        models.ArticleCNN(224)(torch.rand(1, 3, 32, 32))


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






def test_cifar_resnet18_keeps_resolution_in_the_stem():
    net = models.cifar_resnet18()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    assert models.cifar_resnet18(feature_dim=128)(torch.rand(2, 3, 32, 32)).shape == (2, 128)



def test_feature_queue_exposes_its_pointer_and_buffer():
    q = models.FeatureQueue(4, 2)
    q.enqueue(torch.ones(3, 2))
    assert q.pointer == 3 and q.buffer.shape == (4, 2) and q.buffer[3].sum() == 0
    q.buffer.fill_(5)  # a copy: the queue is unchanged
    assert q.features.sum() == 6


def test_digits_encoder():
    assert models.encoder("digits")(torch.rand(2, 1, 8, 8)).shape == (2, 128)


def test_mlp_encoder():
    assert models.MLP(30, feature_dim=8)(torch.randn(5, 30)).shape == (5, 8)
    with pytest.raises(ValueError, match="x must be N x 30"):
        models.MLP(30)(torch.randn(5, 29))
    with pytest.raises(ValueError, match="depth"):
        models.MLP(30, depth=0)
