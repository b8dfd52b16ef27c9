"""sslbook.data: digits, few-label draws, the generated corpus and shapes."""
import pytest
import torch

from sslbook import augment, data


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


def test_corpus_words_and_categories():
    c = data.make_corpus(200, seed=1)
    assert c.ids.shape[0] == 200 and c.ids.dtype == torch.long and c.vocab[0] == "[PAD]"
    assert len(c.content_ids()) == 48 and c.content_labels().bincount().tolist() == [8] * 6
    assert torch.equal(c.ids, data.make_corpus(200, seed=1).ids)
    sentence = c.decode(c.ids[0]).split()
    assert all(w in c.vocab for w in sentence) and "[PAD]" not in sentence
    with pytest.raises(ValueError, match="n_sentences"):
        data.make_corpus(0)


def test_shapes_factors_are_independent_and_drawn():
    s = data.make_shapes(800, size=16, seed=0)
    assert s.images.shape == (800, 3, 16, 16) and 0 <= s.images.min() and s.images.max() <= 1
    assert set(s.shape.tolist()) == {0, 1, 2, 3} and set(s.colour.tolist()) == {0, 1, 2, 3}
    joint = torch.zeros(4, 4)
    for a, b in zip(s.shape, s.colour):
        joint[a, b] += 1
    assert joint.min() > 25  # every combination occurs
    # the drawn pixels carry exactly the image's colour
    rgb = torch.tensor(list(data.COLOURS.values()))
    i = 0
    lit = s.images[i].sum(0) > 0
    assert lit.sum() > 10 and torch.allclose(s.images[i][:, lit].T, rgb[s.colour[i]].expand(int(lit.sum()), 3))
    with pytest.raises(ValueError, match="size"):
        data.make_shapes(4, size=4)


def test_colour_augmentation_changes_hue_but_not_geometry():
    s = data.make_shapes(64, seed=0)
    v = augment.RandomViews(rotation=0, scale=(1, 1), translate=0, hue=0.5)(s.images, torch.Generator().manual_seed(0))
    lit_before, lit_after = s.images.sum(1) > 0, v.sum(1) > 0.05
    assert (lit_before == lit_after).float().mean() > 0.97
    assert (v - s.images).abs().mean() > 0.05
    grey = augment.RandomViews(rotation=0, scale=(1, 1), translate=0, grayscale=1.0)(s.images)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    with pytest.raises(ValueError, match="3 colour channels"):
        augment.RandomViews(hue=0.1)(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="hue"):
        augment.RandomViews(hue=0.7)


def test_breast_cancer_is_standardised_on_the_training_rows():
    d = data.load_breast_cancer()
    assert d.x.shape == (569, 30) and d.classes == ("malignant", "benign") and len(d.train_idx) == 398
    assert torch.allclose(d.x[d.train_idx].mean(0), torch.zeros(30), atol=1e-5)
    assert not torch.allclose(d.x[d.test_idx].mean(0), torch.zeros(30), atol=1e-3)  # test rows not used
    assert d.labels.bincount().tolist() == [212, 357]


def test_mri_slice_ships_with_matplotlib():
    mri = data.mri_slice()
    assert mri.shape == (1, 256, 256) and mri.max() == 1 and mri.min() >= 0
    assert 0.2 < (mri > 0.08).float().mean() < 0.7  # a head on a black background


def test_as_colour_images():
    x = data.as_colour_images(torch.rand(3, 1, 8, 8), size=16)
    assert x.shape == (3, 3, 16, 16) and torch.equal(x[:, 0], x[:, 2])
    with pytest.raises(ValueError, match="1 channel"):
        data.as_colour_images(torch.rand(3, 3, 8, 8))
