"""sslbook.text: the words, the vocabulary and the Python documentation corpus."""
import pytest
import torch

from sslbook import text


def test_words_and_vocab_round_trip():
    assert text.words("Open a FILE, read 2 lines.") == ["open", "a", "file", "read", "2", "lines"]
    v = text.Vocab.build(["open a file", "open a socket", "close a file"], max_size=10, min_count=2)
    assert v.words == ["[PAD]", "[UNK]", "a", "file", "open"] and v.mask_id == 5
    ids = v.encode(["open the file", ""], max_len=4)
    assert ids.tolist() == [[4, 1, 3, 0], [0, 0, 0, 0]] and v.decode(ids[0]) == "open [UNK] file"


def test_vocab_rejects_bad_input():
    with pytest.raises(ValueError, match="max_size must be an integer >= 3"):
        text.Vocab.build(["a"], max_size=2)
    with pytest.raises(ValueError, match="must start with"):
        text.Vocab(["a", "b"])
    with pytest.raises(ValueError, match="text must be a str"):
        text.words(3)


def test_chunks_cut_long_texts():
    pieces = text.chunks([" ".join(["w"] * 100), "too short"], length=48)
    assert [len(p.split()) for p in pieces] == [48, 48, 4]  # a last piece of 4 words is kept, of 2 dropped
    assert len(text.chunks([" ".join(["w"] * 52)], length=48)) == 2


def test_python_docs_is_labelled_split_and_keeps_test_text_out_of_pre_training():
    docs = text.python_docs()
    assert len(docs.texts) == len(docs.labels) > 500 and docs.families == tuple(text.FAMILIES)
    assert set(docs.labels.tolist()) == set(range(len(text.FAMILIES)))
    assert len(set(docs.train_idx.tolist()) & set(docs.test_idx.tolist())) == 0
    pre = set(docs.pretraining)
    assert not any(docs.texts[i] in pre for i in docs.test_idx.tolist())
    unread = set(docs.unread_idx.tolist())
    assert unread < set(docs.train_idx.tolist()) and 0.15 < len(unread) / len(docs.train_idx) < 0.25
    assert not any(docs.texts[i] in pre for i in unread)        # kept out, to measure memorisation
    assert all(docs.texts[i] in pre for i in docs.train_idx.tolist() if i not in unread)
    # the unread part is drawn like the rest of the training split: every family is in it
    assert set(docs.labels[docs.unread_idx].tolist()) == set(range(len(text.FAMILIES)))
    assert len(docs.pretraining) > 1000 and torch.equal(text.python_docs().labels, docs.labels)  # deterministic


def test_fingerprint_is_stable_and_checks_its_input():
    assert text.fingerprint("Return the absolute value of the argument.") == "3c31450076a5bb1f"
    assert text.fingerprint("a") != text.fingerprint("b") and len(text.fingerprint("")) == 16
    with pytest.raises(ValueError, match="doc must be a str"):
        text.fingerprint(3)
    with pytest.raises(ValueError, match="unread_size"):
        text.python_docs(unread_size=1.0)
