"""sslbook.domains: SCARF on rows; the language model's recipe, checkpoint and loader."""
import pytest
import torch

from sslbook import checkpoints, domains, text


def test_pretrain_scarf_learns_and_records():
    rows = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    run = domains.pretrain_scarf(rows, steps=30, progress=False)
    assert run.meta["method"] == "scarf" and run.meta["steps"] == 30
    assert run.model.encoder(rows).shape == (64, domains.TABULAR.feature_dim)
    with pytest.raises(ValueError, match="rows must be 2-D"):
        domains.pretrain_scarf(torch.randn(5), steps=1)


def test_language_round_trip_through_a_checkpoint(tmp_path):
    docs = text.python_docs()
    tiny = domains.LanguageRecipe(vocab_size=300, dim=16, depth=1, heads=2, batch_size=16)
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
