"""sslbook.interpret: nearest neighbours and occlusion maps."""
import pytest
import torch
from torch import nn

from sslbook import interpret


def test_nearest_ranks_by_cosine_and_can_exclude_itself():
    g = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0]])
    assert interpret.nearest(torch.tensor([[2.0, 0.3]]), g, k=2).tolist() == [[1, 0]]   # cosine, not distance
    assert interpret.nearest(g, g, k=1, exclude_self=True).flatten().tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="k must be at most 2"):
        interpret.nearest(g, g, k=3, exclude_self=True)
    with pytest.raises(ValueError, match="same width"):
        interpret.nearest(torch.rand(2, 3), g)


def test_occlusion_finds_the_pixels_the_features_read():
    class TopLeft(nn.Module):                    # features read only the top-left 4 x 4 corner
        def forward(self, x):
            return torch.cat([x[:, :, :4, :4].flatten(1), torch.ones(len(x), 1)], dim=1)
    image = torch.rand(3, 8, 8) + 0.1
    m = interpret.occlusion_map(TopLeft(), image, patch=4, fill=0.0)
    assert m.shape == (2, 2) and m[0, 0] > 0.1
    assert torch.allclose(m.flatten()[1:], torch.zeros(3), atol=1e-6)


def test_occlusion_fills_with_grey_by_default():
    class TopLeft(nn.Module):
        def forward(self, x):
            return torch.cat([x[:, :, :4, :4].flatten(1), torch.ones(len(x), 1)], dim=1)
    grey = torch.full((3, 8, 8), 0.5)               # a grey image: a grey occluder changes nothing
    assert torch.allclose(interpret.occlusion_map(TopLeft(), grey, patch=4), torch.zeros(2, 2), atol=1e-6)
    assert interpret.occlusion_map(TopLeft(), grey, patch=4, fill=0.0)[0, 0] > 0.1


def test_occlusion_bad_input():
    with pytest.raises(ValueError, match="patch"):
        interpret.occlusion_map(nn.Flatten(), torch.rand(3, 8, 8), patch=9)
    with pytest.raises(ValueError, match="image"):
        interpret.occlusion_map(nn.Flatten(), torch.rand(8, 8), patch=2)
