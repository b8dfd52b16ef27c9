"""sslbook.domains: SCARF on rows; the language model's recipe, checkpoint and loader."""
import pytest
import torch

from sslbook import checkpoints, config, domains, text


def test_pretrain_scarf_learns_and_records():
    rows = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    run = domains.pretrain_scarf(rows, steps=30, progress=False)
    assert run.meta["method"] == "scarf" and run.meta["steps"] == 30
    assert run.model.encoder(rows).shape == (64, domains.TABULAR.feature_dim)
    with pytest.raises(ValueError, match="rows must be 2-D"):
        domains.pretrain_scarf(torch.randn(5), steps=1)


def test_language_round_trip_through_a_checkpoint(tmp_path):
    docs = text.python_docs()
    tiny = domains.LANGUAGE.replace(vocab_size=300, dim=16, depth=1, heads=2, batch_size=16)
    model, vocab, meta = domains.pretrain_language(docs, tiny, steps=3, progress=False)
    assert meta["steps"] == 3 and meta["vocab"] == vocab.words and len(vocab) == 300
    checkpoints.save_checkpoint(tmp_path / "m.pt", model, **meta)
    loaded, vocab2, meta2 = domains.load_language(tmp_path / "m.pt", tiny)
    assert vocab2.words == vocab.words and meta2["steps"] == 3
    ids = vocab.encode(["open a file"], tiny.max_len)
    with torch.no_grad():
        assert torch.allclose(model.eval()(ids), loaded(ids))
    checkpoints.save_checkpoint(tmp_path / "other.pt", model, steps=1)
    with pytest.raises(ValueError, match="not a language checkpoint"):
        domains.load_language(tmp_path / "other.pt", tiny)


def test_recipes_share_a_validated_schedule():
    assert isinstance(domains.LANGUAGE, domains.Schedule) and isinstance(domains.TABULAR, domains.Schedule)
    assert domains.TABULAR.replace(steps=5).steps == 5 and domains.TABULAR.steps == 2000
    for bad in ({"batch_size": 0}, {"lr": -1.0}, {"steps": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            domains.TABULAR.replace(**bad)


def test_default_seed_follows_sslbook_seed(monkeypatch):
    rows = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    first = domains.pretrain_scarf(rows, steps=2, progress=False).model.encoder(rows)
    again = domains.pretrain_scarf(rows, steps=2, seed=config.seed(0), progress=False).model.encoder(rows)
    monkeypatch.setenv("SSLBOOK_SEED", str((config.seed_offset() + 1) % 1000))
    other = domains.pretrain_scarf(rows, steps=2, progress=False).model.encoder(rows)
    assert torch.equal(first, again) and not torch.allclose(first, other)
