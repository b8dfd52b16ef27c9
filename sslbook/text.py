"""Real English text that ships with Python, and a word-level vocabulary for it.

Two corpora need no download: ``pydoc_data.topics`` (the language reference
behind ``help()``, 79 topics, about 65,000 words) and the docstrings of the
standard library. :func:`python_docs` turns them into a pre-training corpus and
a labelled task: which family of modules (files, text, maths, network, time,
concurrency) a docstring comes from. The text depends on the Python version, so
numbers differ slightly between versions.

The vocabulary is word-level (:class:`Vocab`), so that a learned word vector is
the vector of a whole word whose neighbours can be read.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pydoc_data.topics
import re
import warnings
from collections import Counter
from dataclasses import dataclass

import torch

from . import _validate
from .data import stratified_split

#: The downstream task: a docstring's module family. Nothing here is used for pre-training labels.
FAMILIES = {
    "files": ("os", "os.path", "pathlib", "shutil", "glob", "tempfile", "filecmp", "stat", "fnmatch",
              "zipfile", "tarfile"),
    "text": ("string", "re", "textwrap", "difflib", "unicodedata", "codecs", "html", "html.parser"),
    "maths": ("math", "cmath", "decimal", "fractions", "statistics", "random", "numbers", "operator"),
    "network": ("socket", "ssl", "http.client", "http.server", "urllib.request", "urllib.parse", "smtplib",
                "ftplib", "email.message", "ipaddress"),
    "time": ("datetime", "time", "calendar", "zoneinfo", "sched"),
    "concurrency": ("threading", "queue", "multiprocessing", "concurrent.futures", "subprocess", "signal"),
}

#: Other standard-library modules whose docstrings join the unlabelled pre-training text.
OTHER_MODULES = ("json", "csv", "argparse", "logging", "unittest", "collections", "itertools", "functools",
                 "inspect", "typing", "dataclasses", "enum", "pickle", "sqlite3", "xml.etree.ElementTree",
                 "configparser", "gzip", "hashlib", "base64", "struct", "array", "copy", "pprint", "traceback",
                 "warnings", "contextlib", "abc", "weakref", "ast", "tokenize", "platform", "locale", "doctest",
                 "timeit", "pstats", "shelve", "heapq", "bisect", "io", "codeop", "gettext", "mailbox", "wave",
                 "zlib", "bz2", "lzma", "secrets", "uuid", "types")
# Not ``sys`` or ``builtins``: a Jupyter kernel changes their members, and the text must be
# the same in a kernel and in a script.

_WORD = re.compile(r"[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """Lower-case words and numbers; punctuation is dropped.

    >>> words("Return the path's base-name (as str).")
    ['return', 'the', 'path', 's', 'base', 'name', 'as', 'str']
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


class Vocab:
    """A word-level vocabulary: id 0 is ``[PAD]``, id 1 is ``[UNK]`` (any word not kept),
    then the kept words, most frequent first. ``mask_id`` (= ``len(vocab)``) is the first
    id after the vocabulary, as :func:`sslbook.masking.mask_tokens` asks.

    >>> v = Vocab.build(["a b b c", "b c"], max_size=10)
    >>> v.words[:4], v.encode(["b z"], max_len=3).tolist()
    (['[PAD]', '[UNK]', 'b', 'c'], [[2, 1, 0]])
    """

    PAD, UNK = 0, 1

    def __init__(self, words_: list[str]):
        if list(words_[:2]) != ["[PAD]", "[UNK]"] or len(set(words_)) != len(words_):
            raise ValueError("words must start with '[PAD]', '[UNK]' and hold no duplicates")
        self.words = list(words_)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts, max_size: int = 5000, min_count: int = 2) -> "Vocab":
        """Keep the ``max_size - 2`` most frequent words seen at least ``min_count`` times."""
        _validate.positive_int("max_size", max_size, minimum=3)
        _validate.positive_int("min_count", min_count)
        counts = Counter(w for t in texts for w in words(t))
        kept = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
        return cls(["[PAD]", "[UNK]", *kept[: max_size - 2]])

    def __len__(self) -> int:
        return len(self.words)

    @property
    def mask_id(self) -> int:
        return len(self.words)

    def encode(self, texts, max_len: int = 64) -> torch.Tensor:
        """N texts -> N x ``max_len`` ids, cut at ``max_len`` words and padded with 0."""
        _validate.positive_int("max_len", max_len)
        ids = torch.zeros(len(texts), max_len, dtype=torch.long)
        for i, t in enumerate(texts):
            row = [self.index.get(w, self.UNK) for w in words(t)][:max_len]
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids

    def decode(self, ids) -> str:
        return " ".join(self.words[i] for i in torch.as_tensor(ids).tolist() if i != self.PAD)


def chunks(texts, length: int = 48) -> list[str]:
    """Cut texts into pieces of at most ``length`` words, the sequences of masked language modelling."""
    _validate.positive_int("length", length, minimum=2)
    out = []
    for t in texts:
        w = words(t)
        out += [" ".join(w[i:i + length]) for i in range(0, len(w), length) if len(w[i:i + length]) >= 4]
    return out


def _docstrings(module_name: str) -> list[tuple[str, str]]:
    """``(docstring, owner)`` pairs (docstrings of at least 5 words) of a module's public
    functions, classes and their methods; a method's owner is its class."""
    module = importlib.import_module(module_name)
    found = []
    with warnings.catch_warnings():  # e.g. typing.io's deprecation, raised by merely reading its __doc__
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, obj in inspect.getmembers(module):
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [obj] + ([v for k, v in vars(obj).items() if not k.startswith("_") and callable(v)]
                               if inspect.isclass(obj) else [])
            for member in members:
                doc = inspect.getdoc(member)
                if doc and len(doc.split()) >= 5:
                    found.append((doc, f"{module_name}.{name}"))
    return found


@dataclass(frozen=True)
class PythonDocs:
    """The task's docstrings with their family label, their owner (a function, or the
    class of a method) and a fixed split, and the unlabelled pre-training texts (which
    exclude the task's test docstrings).

    ``unseen_test_idx`` keeps the test docstrings whose owner has no docstring in the
    training split: a method's siblings can share most of its words, and the training
    docstrings are part of the pre-training text. ``unread_idx``, a random part of the
    training split, is left out of the pre-training text: docstrings drawn like the ones the
    model read, but never read, for a fair test of memorisation."""

    texts: tuple[str, ...]
    labels: torch.Tensor
    families: tuple[str, ...]
    owners: tuple[str, ...]
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    unread_idx: torch.Tensor
    pretraining: tuple[str, ...]

    @property
    def unseen_test_idx(self) -> torch.Tensor:
        seen = {self.owners[i] for i in self.train_idx.tolist()}
        return torch.tensor([i for i in self.test_idx.tolist() if self.owners[i] not in seen], dtype=torch.long)


def fingerprint(doc: str) -> str:
    """A short, stable name for one text (the first 16 hex digits of its SHA-256), so that a
    checkpoint can record which docstrings its model read without storing them.

        >>> fingerprint("Return the absolute value of the argument.")
        '3c31450076a5bb1f'
    """
    if not isinstance(doc, str):
        raise ValueError(f"doc must be a str, got {type(doc).__name__}")
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:16]


def python_docs(test_size: float = 0.3, seed: int = 0, unread_size: float = 0.2) -> PythonDocs:
    """Docstrings of :data:`FAMILIES` (deduplicated, each labelled by its family, with a
    stratified split) and the pre-training text: ``pydoc_data.topics``, the docstrings of
    :data:`OTHER_MODULES` and the task's *training* docstrings, without their labels, except a
    stratified ``unread_size`` of them (``unread_idx``), kept out to measure memorisation.

    ``seed`` stays 0 by default rather than following ``SSLBOOK_SEED``: the shipped language
    model (``pydocs-mlm.pt``) was pre-trained on this split's training docstrings, and another
    split would test it on documents it has read. The standard library differs between Python
    versions, and with it the split: the checkpoint records the fingerprints of what it read
    (:func:`fingerprint`), and :func:`sslbook.applications.language` tests only on the rest.
    """
    _validate.in_range("unread_size", unread_size, 0, 1, low_open=True, high_open=True)
    texts, labels, owners, seen = [], [], [], set()
    for label, modules in enumerate(FAMILIES.values()):
        for m in modules:
            for doc, owner in _docstrings(m):
                if doc not in seen:
                    seen.add(doc)
                    texts.append(doc)
                    labels.append(label)
                    owners.append(owner)
    labels = torch.tensor(labels)
    train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=seed)
    keep, out = stratified_split(labels[train_idx], test_size=unread_size, seed=seed + 1)
    read_idx, unread_idx = train_idx[keep], train_idx[out]
    other = [d for m in OTHER_MODULES for d, _ in _docstrings(m) if d not in seen]
    pretraining = [*pydoc_data.topics.topics.values(), *other, *(texts[i] for i in read_idx.tolist())]
    return PythonDocs(tuple(texts), labels, tuple(FAMILIES), tuple(owners), train_idx, test_idx, unread_idx,
                      tuple(pretraining))
