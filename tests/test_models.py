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
