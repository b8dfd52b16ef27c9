import pytest
import torch

from sslbook import data


def test_digits_shapes_and_range(digits):
    assert digits.images.shape == (1797, 1, 8, 8)
    assert digits.images.dtype == torch.float32
    assert digits.images.min() == 0 and digits.images.max() == 1
    assert digits.labels.dtype == torch.long and set(digits.labels.tolist()) == set(range(10))
    assert digits.classes == tuple(str(i) for i in range(10))


def test_digits_split_is_fixed_disjoint_and_stratified(digits):
    again = data.load_digits()
    assert torch.equal(digits.train_idx, again.train_idx) and torch.equal(digits.test_idx, again.test_idx)
    assert len(digits.train_idx) == 1257 and len(digits.test_idx) == 540
    assert not set(digits.train_idx.tolist()) & set(digits.test_idx.tolist())
    assert len(digits.train_idx) + len(digits.test_idx) == len(digits)
    share = torch.bincount(digits.y_test, minlength=10) / torch.bincount(digits.labels, minlength=10)
    assert torch.all((share - 0.3).abs() < 0.02)
    assert torch.equal(digits.x_train, digits.images[digits.train_idx])


def test_other_seed_gives_another_split():
    assert not torch.equal(data.load_digits(seed=1).test_idx, data.load_digits(seed=0).test_idx)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan")])
def test_split_rejects_bad_test_size(bad):
    with pytest.raises(ValueError, match="test_size"):
        data.load_digits(test_size=bad)


def test_few_labels_draws_exactly_per_class(digits):
    idx = data.few_labels(digits.y_train, 5, seed=3)
    assert len(idx) == 50 and len(set(idx.tolist())) == 50
    assert torch.bincount(digits.y_train[idx], minlength=10).tolist() == [5] * 10
    assert torch.equal(idx, data.few_labels(digits.y_train, 5, seed=3))
    assert not torch.equal(idx, data.few_labels(digits.y_train, 5, seed=4))


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_few_labels_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="per_class"):
        data.few_labels(torch.tensor([0, 1, 0, 1]), bad)


def test_few_labels_rejects_more_than_the_smallest_class():
    with pytest.raises(ValueError, match="per_class must be at most the size of the smallest class"):
        data.few_labels(torch.tensor([0, 0, 0, 1]), 2)
