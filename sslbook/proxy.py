"""Answers as data between a student's kernel and the grader's checker (issue 26).

The grader runs a chapter's checker in its own process, where no student code ever ran. The checker
gets, for each name its check cell passes, the kernel's value as data, or, for a function, a
:class:`Remote` that stands for it. Calling a Remote sends the arguments to the kernel (pickled: they
come from the grader's own checker, so only the kernel unpickles them), calls the student's function
there, and brings back its result and the new state of every argument (a tensor, a model's parameters,
a list) as **data only**: a tree of None, bools, numbers, strings, bytes, lists, tuples, tensors and
tagged dicts saved by ``torch.save`` and read back with ``torch.load(weights_only=True)``, from a
regular file of bounded size. No pickled object ever travels from the kernel to the grader. Anything
else (a model, an object of the student's own class, an answer whose ``__eq__`` lies) arrives as
:class:`NotData`, which no checker accepts.

Kernel side: :func:`serve`. Grader side: :class:`Kernel`. The kernel may answer anything, but only data.

>>> kernel = Kernel(run, folder)          # run(code) executes code in the kernel
>>> kernel.values(["answers"])["answers"]
{'a': 'supervised', ...}
"""

from __future__ import annotations

import os
import pickle
import re
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

#: The largest reply file the grader reads (bytes).
REPLY_LIMIT = 256 * 2**20
_DEPTH = 40
_ARRAY_KINDS = "biufc"   # NumPy dtype kinds that travel: bool, int, uint, float, complex


class NotData:
    """An answer that is not data (a model, a function inside a value, an object of its own class)."""

    def __init__(self, kind: str):
        self.kind = str(kind)[:80]

    def __repr__(self) -> str:
        return f"<a {self.kind}, which the grader cannot read as data>"


class KernelFault(BaseException):
    """The kernel did not answer (died, timed out, sent what is not data); no checker's ``except Exception``
    turns it into a wrong answer."""


class Missing:
    """A name the check cell passes that the kernel does not define."""


# ---------------------------------------------------------------- data: encode (kernel), decode (grader)

def encode(obj, depth: int = 0):
    """``obj`` as a tree ``torch.load(weights_only=True)`` reads; what is not data becomes a ``notdata`` tag."""
    if depth > _DEPTH:
        return {"__t": "notdata", "type": "value nested too deep"}
    if obj is None or type(obj) in (bool, int, float, str, bytes):
        return obj
    if isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS:
        return {"__t": "np", "dtype": obj.dtype.str, "v": obj.item()}
    for kind in (bool, int, float, str, bytes):   # a subclass travels as its plain value
        if isinstance(obj, kind):
            return kind(obj) if kind is not str else str.__str__(obj)
    if isinstance(obj, complex):
        return {"__t": "complex", "v": [obj.real, obj.imag]}
    if torch.is_tensor(obj):
        return _plain(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind in _ARRAY_KINDS:
        return {"__t": "nd", "v": torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, torch.Generator):
        return {"__t": "gen", "v": obj.get_state()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [encode(v, depth + 1) for v in obj]
        return items if isinstance(obj, list) else tuple(items) if isinstance(obj, tuple) else {"__t": "set", "v": items}
    if isinstance(obj, dict):
        keys = list(obj)
        return {"__t": "dict", "k": [encode(k, depth + 1) for k in keys],
                "v": [encode(obj[k], depth + 1) for k in keys]}
    return {"__t": "notdata", "type": type(obj).__name__}


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A plain dense CPU tensor with its own storage (no subclass, no view of a larger one)."""
    t = t.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    out = torch.empty(t.shape, dtype=t.dtype)
    out.copy_(t.cpu())
    return out


def decode(tree, depth: int = 0):
    """The value ``encode`` described, built from plain types only; anything unexpected -> ``KernelFault``."""
    if depth > _DEPTH + 1:
        raise KernelFault("the kernel's answer is nested too deep")
    if tree is None or type(tree) in (bool, int, float, str, bytes):
        return tree
    if type(tree) is torch.Tensor or isinstance(tree, torch.nn.Parameter):
        return _plain(tree)
    if type(tree) is list:
        return [decode(v, depth + 1) for v in tree]
    if type(tree) is tuple:
        return tuple(decode(v, depth + 1) for v in tree)
    if type(tree) is dict and isinstance(tree.get("__t"), str):
        tag = tree["__t"]
        if tag == "dict":
            keys, values = tree.get("k"), tree.get("v")
            if type(keys) is not list or type(values) is not list or len(keys) != len(values):
                raise KernelFault("the kernel sent a malformed dict")
            out = {}
            for k, v in zip(keys, values):
                key = decode(k, depth + 1)
                try:
                    out[key] = decode(v, depth + 1)
                except TypeError:   # an unhashable key (a list): not something a checker asks for
                    return NotData("dict with unhashable keys")
            return out
        if tag == "np" and isinstance(tree.get("dtype"), str) and np.dtype(tree["dtype"]).kind in _ARRAY_KINDS:
            return np.dtype(tree["dtype"]).type(tree["v"])
        if tag == "nd" and type(tree.get("v")) is torch.Tensor:
            return tree["v"].numpy().copy()
        if tag == "complex" and type(tree.get("v")) is list and len(tree["v"]) == 2:
            return complex(*map(float, tree["v"]))
        if tag == "set" and type(tree.get("v")) is list:
            try:
                return {decode(v, depth + 1) for v in tree["v"]}
            except TypeError:
                return NotData("set of unhashable values")
        if tag == "gen" and type(tree.get("v")) is torch.Tensor:
            return torch.Generator().set_state(tree["v"])
        if tag == "notdata":
            return NotData(tree.get("type", "value") if isinstance(tree.get("type"), str) else "value")
    raise KernelFault(f"the kernel's answer holds a {type(tree).__name__} the grader does not read")


def state(obj):
    """What a call may have changed in place in an argument, as data (``None``: nothing to bring back)."""
    if torch.is_tensor(obj):
        return {"__t": "tstate", "v": _plain(obj), "rg": bool(obj.requires_grad), "gf": obj.grad_fn is not None}
    if isinstance(obj, torch.nn.Module):
        return {"__t": "mstate", "p": {n: state(p) for n, p in obj.named_parameters()},
                "b": {n: state(b) for n, b in obj.named_buffers()}, "train": bool(obj.training)}
    if isinstance(obj, (np.ndarray, list, dict, torch.Generator)):
        return encode(obj)
    return None


def apply_state(obj, tree) -> None:
    """Give ``obj`` (the grader's argument) the state the kernel's copy reached during the call."""
    if tree is None:
        return
    tag = tree.get("__t") if type(tree) is dict else None
    if torch.is_tensor(obj) and tag == "tstate" and type(tree.get("v")) is torch.Tensor:
        new = tree["v"]
        with torch.no_grad():
            if new.shape == obj.shape and new.dtype == obj.dtype:
                obj.copy_(new)
            else:
                obj.data = new
        if tree.get("gf") is True and obj.grad_fn is None and not obj.requires_grad and obj.is_floating_point():
            with torch.enable_grad():   # the kernel's copy gained autograd history: so does this one
                obj.add_(torch.zeros((), dtype=obj.dtype, requires_grad=True))
        elif obj.is_leaf and bool(tree.get("rg")) != obj.requires_grad and obj.is_floating_point():
            obj.requires_grad_(bool(tree.get("rg")))
    elif isinstance(obj, torch.nn.Module) and tag == "mstate":
        for kind, items in (("p", obj.named_parameters()), ("b", obj.named_buffers())):
            got = tree.get(kind) if type(tree.get(kind)) is dict else {}
            for name, value in list(items):
                apply_state(value, got.get(name))
        obj.train(tree.get("train") is True)
    elif isinstance(obj, list) and type(tree) is list:
        obj[:] = decode(tree)
    elif isinstance(obj, dict) and tag == "dict" and isinstance(new := decode(tree), dict):
        obj.clear()
        obj.update(new)
    elif isinstance(obj, np.ndarray) and tag == "nd" and (new := decode(tree)).shape == obj.shape:
        obj[...] = new
    elif isinstance(obj, torch.Generator) and tag == "gen":
        obj.set_state(decode(tree).get_state())


# ---------------------------------------------------------------- the kernel's side

_HANDLES: list = []


def _namespace() -> dict:
    return vars(sys.modules["__main__"])   # IPython's user namespace is __main__'s


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - an answer whose own methods raise is still not data
        return {"__t": "notdata", "type": f"value that raised {type(exc).__name__} when read"}


def _describe(names):
    ns, out = _namespace(), {}
    for name in names:
        if name not in ns:
            out[name] = {"__t": "missing"}
        elif callable(ns[name]) and not isinstance(ns[name], type):
            _HANDLES.append(ns[name])
            out[name] = {"__t": "fn", "h": len(_HANDLES) - 1}
        else:
            out[name] = _safe(encode, ns[name])
    return {"names": out}


def _call(handle, args, kwargs):
    try:
        result = _HANDLES[handle](*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the student's own error, reported by the checker
        return {"raised": (type(exc).__name__, _safe(str, exc))}
    return {"result": _safe(encode, result), "args": [_safe(state, a) for a in args],
            "kwargs": {k: _safe(state, v) for k, v in kwargs.items()}}


def serve(request: str, reply: str) -> None:
    """Answer one request of the grader (run inside the student's kernel): read ``request`` (pickled by
    the grader), write the answer to ``reply`` as data (``torch.save`` of plain types)."""
    with open(request, "rb") as f:
        op, payload = pickle.load(f)
    out = _describe(payload) if op == "names" else _call(*payload)
    if "raised" in out and not isinstance(out["raised"][1], str):   # its str() raised
        out["raised"] = (out["raised"][0], "")
    torch.save(out, reply)


# ---------------------------------------------------------------- the grader's side

class Remote:
    """A student's function, living in the kernel: calling it calls the function there."""

    def __init__(self, kernel: Kernel, handle: int, name: str):
        self._kernel, self._handle, self.__name__ = kernel, handle, name

    def __call__(self, *args, **kwargs):
        return self._kernel.call(self._handle, args, kwargs)

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}>"


def _raised(name, message) -> Exception:
    """An exception of the student's exception's name (so the checker's message names it), from data."""
    name = re.sub(r"\W", "", str(name))[:60]
    cls = type(name if name.isidentifier() else "Exception", (Exception,), {"__module__": "student"})
    return cls(str(message)[:2000])


class Kernel:
    """The grader's end: ``run(code)`` executes ``code`` in the student's kernel and returns ``None``
    or ``(ename, evalue)``; requests and replies are files in ``folder``."""

    def __init__(self, run, folder):
        self.run, self.folder, self.count = run, Path(folder), 0

    def _request(self, op, payload):
        self.count += 1
        request, reply = self.folder / f"request-{self.count}.pkl", self.folder / f"reply-{self.count}.pt"
        try:
            with open(request, "wb") as f:
                pickle.dump((op, payload), f)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise KernelFault(f"the grader could not send the checker's arguments ({type(exc).__name__})") from None
        error = self.run(f"__import__('sslbook.proxy', fromlist=['serve']).serve({str(request)!r}, {str(reply)!r})")
        if error is not None:
            raise KernelFault(error if isinstance(error, str) else
                              f"the kernel did not answer the grader ({error[0]}: {error[1]})".rstrip(": ()"))
        tree = read_reply(reply)
        if type(tree) is not dict:
            raise KernelFault("the kernel's answer is not what the grader asked for")
        return tree

    def values(self, names) -> dict:
        """``{name: data, Remote, or a Missing instance}`` for the names a check cell passes."""
        got = self._request("names", list(names)).get("names")
        if type(got) is not dict:
            raise KernelFault("the kernel's answer is not what the grader asked for")
        out = {}
        for name in names:
            item = got.get(name)
            tag = item.get("__t") if type(item) is dict else None
            if tag == "missing":
                out[name] = Missing()
            elif tag == "fn" and type(item.get("h")) is int:
                out[name] = Remote(self, item["h"], name)
            else:
                out[name] = _decoded(item)
        return out

    def call(self, handle, args, kwargs):
        tree = self._request("call", (handle, args, kwargs))
        if "raised" in tree:
            raised = tree["raised"]
            if type(raised) is not tuple or len(raised) != 2:
                raise KernelFault("the kernel's answer is not what the grader asked for")
            raise _raised(*raised)
        news = tree.get("args")
        if type(news) is list and len(news) == len(args):
            for arg, new in zip(args, news):
                _decoded_state(arg, new)
        news = tree.get("kwargs")
        if type(news) is dict:
            for key, arg in kwargs.items():
                _decoded_state(arg, news.get(key))
        return _decoded(tree.get("result"))


def _decoded_state(arg, tree):
    try:
        apply_state(arg, tree)
    except (TypeError, ValueError, OverflowError, RuntimeError, AttributeError) as exc:
        raise KernelFault(f"the kernel's answer is not data the grader reads ({type(exc).__name__})") from None


def _decoded(tree):
    try:
        return decode(tree)
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise KernelFault(f"the kernel's answer is not data the grader reads ({type(exc).__name__})") from None


def read_reply(path):
    """A reply file as data: a regular file (no link) of at most :data:`REPLY_LIMIT` bytes, read with
    ``torch.load(weights_only=True)``; anything else -> ``KernelFault``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise KernelFault("the kernel did not answer the grader (no reply file)") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > REPLY_LIMIT:
            raise KernelFault("the kernel's answer is not a reply file of a readable size")
        try:
            with warnings.catch_warnings():   # torch's note on a pickle protocol it was not sent by torch.save
                warnings.simplefilter("ignore")
                return torch.load(f, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - anything torch.load refuses is not data
            raise KernelFault(f"the kernel's answer is not data ({type(exc).__name__})") from None
