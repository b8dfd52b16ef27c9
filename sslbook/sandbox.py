"""Where a submission runs (issue 26): a throw-away folder, limits, and isolation where the system offers it.

Each notebook gets a fresh temporary folder: ``home/`` (its ``HOME``), ``tmp/`` (its ``TMPDIR``),
``exchange/`` (the grader's requests and the kernel's replies, the kernel's sockets) and
``book/chapters/`` (its working folder) beside a read-only copy of what the chapters read from the
book (``benchmarks/results``). The kernel gets a clean environment (no ``PWD``, no paths of the
teacher's), these limits set by ``resource.setrlimit`` in its own process before it starts: memory
(``RLIMIT_DATA``), size of any file it writes, CPU seconds, no core files; and a watchdog in the
grader kills its process group when a cell or the notebook runs too long or the output floods.
Processes it leaves behind are found by a token in their environment and killed.

Isolation, the best that works here (probed once):

* ``bwrap`` (Debian's bubblewrap): no network, a read-only system, ``/tmp``, the chapters, the
  submissions and the output folder hidden, its own process table; everything dies with it.
* ``unshare`` (util-linux, unprivileged user namespaces): no network, its own process table (every
  process the kernel started dies with it); the chapters, submissions and output folder hidden by
  empty folders mounted over them; the rest of the system readable and writable as your user.
* ``none``: only the throw-away folder, the clean environment and the limits.

>>> isolation()
'unshare'
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from . import config

#: What the chapters read from the book beside ``chapters/`` (copied read-only into each sandbox).
BOOK_READS = ("benchmarks/results",)
TOKEN_VARIABLE = "SSLBOOK_GRADE_TOKEN"
DESCRIPTIONS = {
    "bwrap": "bubblewrap: no network, read-only system, only its own folder visible",
    "unshare": "Linux namespaces (unshare): no network, own processes; chapters, submissions and output "
               "hidden, the rest of the system reachable as your user (install bubblewrap for more)",
    "none": "no sandbox found (neither bwrap nor unshare works here): a throw-away folder and limits "
            "only; student code runs with your rights",
}

#: Runs bwrap with SIGINT ignored (an interrupt is for the kernel, not for the sandbox around it).
IGNORE_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); os.execvp(sys.argv[1], sys.argv[1:])"

#: Runs inside the sandbox, in the kernel's own process, before the kernel: limits, hidden folders, exec.
LAUNCHER = r"""
import ctypes, os, resource, signal, sys
args = sys.argv[1:]
cut = args.index("--")
opts, cmd = args[:cut], args[cut + 1:]
hide = []
while opts:
    key, value = opts.pop(0), opts.pop(0)
    if key == "--hide":
        hide.append(value)
    else:
        res = getattr(resource, key)
        try:
            resource.setrlimit(res, (int(value), int(value)))
        except (ValueError, OSError):
            pass
libc = ctypes.CDLL(None, use_errno=True)
for path in hide:
    if not os.path.lexists(path):   # inside a folder hidden already
        continue
    if os.path.isdir(path):
        ok = libc.mount(b"none", path.encode(), b"tmpfs", 6, b"size=1m") == 0   # MS_NOSUID | MS_NODEV
    else:
        ok = libc.mount(b"/dev/null", path.encode(), None, 4096, None) == 0      # MS_BIND
    if not ok:
        sys.exit(f"sandbox: could not hide {path}")
signal.signal(signal.SIGINT, signal.SIG_DFL)   # bwrap's launch ignored it; the kernel must get its interrupts
os.execv(cmd[0], cmd)
"""


class Limits(NamedTuple):
    """Seconds per cell and per notebook; bytes of output per notebook, of memory, of any file written."""

    cell: float = 600.0
    notebook: float = 3600.0
    output: int = 10 * 2**20
    memory: int = 8 * 2**30
    file_size: int = 2 * 2**30


def _works(cmd) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=1)
def isolation() -> str:
    """``"bwrap"``, ``"unshare"`` or ``"none"``: the strongest isolation that works on this machine."""
    if shutil.which("bwrap") and _works(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                         "--unshare-all", "--die-with-parent", "true"]):
        return "bwrap"
    with tempfile.TemporaryDirectory() as folder:   # the launcher itself must be able to hide a folder
        if shutil.which("unshare") and shutil.which("true") and _works(
                ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                 sys.executable, "-c", LAUNCHER, "--hide", folder, "--", shutil.which("true")]):
            return "unshare"
    return "none"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class Sandbox:
    """A throw-away folder for one notebook; ``hide``: folders and files the kernel must not see.

    >>> with Sandbox(CHAPTERS, hide=["submissions"]) as box:
    ...     km = box.kernel_manager()
    """

    def __init__(self, chapters, hide=(), limits: Limits | None = None, mode: str | None = None):
        self.limits = limits or Limits()
        self.mode = isolation() if mode is None else mode
        if self.mode not in DESCRIPTIONS:
            raise ValueError(f"mode must be one of {sorted(DESCRIPTIONS)}, got {mode!r}")
        self.chapters, self.hidden = Path(chapters).resolve(), [Path(p).resolve() for p in hide]
        self.token, self.km, self.root = secrets.token_hex(16), None, None

    def __enter__(self) -> Sandbox:
        self.root = Path(tempfile.mkdtemp(prefix="sslbook-grade-")).resolve()
        for name in ("home", "tmp", "exchange", "book/chapters"):
            (self.root / name).mkdir(parents=True)
        self.home, self.exchange = self.root / "home", self.root / "exchange"
        self.work = self.root / "book" / "chapters"
        for rel in BOOK_READS:
            source = self.chapters.parent / rel
            if source.is_dir():
                shutil.copytree(source, self.root / "book" / rel)
        for item in self.chapters.iterdir():   # anything the chapters keep beside them (not the chapters)
            if item.suffix not in (".md", ".ipynb") and not item.name.startswith("."):
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, self.work / item.name)
        mpl = Path.home() / ".cache" / "matplotlib"   # its font list: saves a rebuild in every kernel
        if mpl.is_dir():
            shutil.copytree(mpl, self.home / ".cache" / "matplotlib")
        for path in (self.root / "book").rglob("*"):
            if path.is_file():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP)
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

        def writable(func, path, _):   # a read-only copy, or a folder the kernel made read-only
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            os.chmod(path, stat.S_IRWXU)
            func(path)
        shutil.rmtree(self.root, onerror=writable)

    def env(self) -> dict:
        """The kernel's environment: what Python, the chapters and ``sslbook`` need, nothing that names the
        teacher's folders (``SSLBOOK_CACHE`` and ``SSLBOOK_CIFAR10`` excepted: the data)."""
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               or (k.startswith("SSLBOOK_") and k != TOKEN_VARIABLE)}
        env.update(HOME=str(self.home), TMPDIR=str(self.root / "tmp"), MPLBACKEND="Agg", PYTHONNOUSERSITE="1",
                   SSLBOOK_CACHE=str(config.cache_dir()), **{TOKEN_VARIABLE: self.token})
        return env

    def _hidden(self) -> list[Path]:
        keep = [Path(sys.prefix).resolve(), Path(__file__).resolve().parent, self.root]
        out = {p for p in [self.chapters, *self.hidden] if p.exists() and not any(_inside(k, p) for k in keep)}
        if self.mode == "bwrap":   # its /tmp is empty already
            out = {p for p in out if not _inside(p, Path("/tmp"))}
        return sorted(p for p in out if not any(q != p and _inside(p, q) for q in out))

    def command(self, cmd) -> list[str]:
        """The kernel's command line, wrapped: isolation, then the launcher (limits), then ``cmd``."""
        limits = ["RLIMIT_DATA", self.limits.memory, "RLIMIT_FSIZE", self.limits.file_size, "RLIMIT_CORE", 0,
                  "RLIMIT_CPU", int(self.limits.notebook * (os.cpu_count() or 1)) + 60]
        hide = [x for p in self._hidden() for x in ("--hide", p)] if self.mode == "unshare" else []
        launch = [sys.executable, "-c", LAUNCHER, *map(str, limits + hide), "--", *cmd]
        if self.mode == "unshare":
            return ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
                    "--mount-proc", *launch]
        if self.mode == "bwrap":
            wrap = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
            for data in (config.cache_dir(), config.cifar10_root()):   # the data, even under /tmp, read-only
                if data is not None and Path(data).exists():
                    wrap += ["--ro-bind", str(Path(data).resolve()), str(Path(data).resolve())]
            for path in self._hidden():
                wrap += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
            # --as-pid-1: the kernel is its namespace's first process, as under unshare; otherwise its parent
            # is bwrap's init (pid 1) and ipykernel, taking that for an orphaned kernel, shuts down at once.
            wrap += ["--bind", str(self.root), str(self.root), "--unshare-all", "--die-with-parent", "--as-pid-1",
                     "--chdir", str(self.work)]
            # bwrap itself (outside) must outlive the interrupt a long cell gets: it ignores SIGINT, and the
            # launcher (inside) gives the kernel the default back, so the cell still gets its KeyboardInterrupt.
            return [sys.executable, "-c", IGNORE_SIGINT, *wrap, *launch]
        return launch

    def kernel_manager(self):
        """A ``jupyter_client`` kernel manager whose kernel runs in this sandbox (IPC sockets in ``exchange/``)."""
        import nbformat
        from nbclient import NotebookClient

        box = self   # nbclient's own kind of manager (asynchronous: it notices a kernel that died)

        class SandboxKernelManager(NotebookClient(nbformat.v4.new_notebook()).kernel_manager_class):
            def format_kernel_cmd(self, extra_arguments=None):
                return box.command(super().format_kernel_cmd(extra_arguments))

        self.km = SandboxKernelManager(kernel_name="python3", transport="ipc", ip=str(self.exchange / "k"),
                                       connection_file=str(self.exchange / "kernel.json"))
        return self.km

    def kill(self) -> None:
        """Kill the kernel's process group and every process that carries this sandbox's token."""
        provisioner = getattr(self.km, "provisioner", None)
        pgid = getattr(provisioner, "pgid", None)
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        for _ in range(3):   # a fork may fork again while we look
            if not self._kill_marked():
                break

    def _kill_marked(self) -> int:
        mark, killed = f"{TOKEN_VARIABLE}={self.token}".encode(), 0
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if int(proc.name) != os.getpid() and mark in (proc / "environ").read_bytes().split(b"\0"):
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed += 1
            except (OSError, ValueError):
                continue
        return killed


def _why(exc) -> str:
    if type(exc).__name__ == "DeadKernelError":
        return "the kernel died or exited (os._exit, a crash, the memory limit); the rest of the notebook did not run"
    return f"the notebook stopped: {type(exc).__name__}: {exc}".split("\n")[0]


class Stopped(BaseException):
    """The notebook stopped: its kernel died, exited, or was killed for running too long or printing too much."""


def execute(nb, box: Sandbox, checks) -> str:
    """Run ``nb``'s code cells in order in a kernel inside ``box``; at each index in ``checks`` call
    ``checks[index](run)`` instead of running the cell (``run(code)`` executes code in the kernel and returns
    None, a time-out message, or ``(ename, evalue)``). Error outputs are kept in the cells, nothing else.
    Return "" or why the notebook stopped early."""
    import nbformat
    from nbclient import NotebookClient

    limits, state = box.limits, {"printed": 0, "why": "", "cell_end": None}

    def stop(why):
        if not state["why"]:
            state["why"] = why
            box.kill()

    class Client(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] in ("stream", "display_data", "execute_result", "update_display_data"):
                content = msg["content"]
                state["printed"] += len(str(content.get("text", ""))) + sum(
                    len(str(v)) for v in (content.get("data") or {}).values())
                if state["printed"] > limits.output:
                    stop(f"the notebook printed more than {limits.output / 2**20:g} MB and was stopped")
                return None
            return super().process_message(msg, cell, cell_index)

    client = Client(nb, km=box.kernel_manager(), timeout=limits.cell, kernel_name="python3", allow_errors=True,
                    interrupt_on_timeout=True, resources={"metadata": {"path": str(box.work)}})
    end, done = time.monotonic() + limits.notebook, threading.Event()

    def watch():   # a cell that ignores the interrupt, or a notebook past its time, is killed
        while not done.wait(0.25):
            now = time.monotonic()
            if now > end:
                stop(f"the notebook ran longer than {limits.notebook:g} s and was stopped")
            elif state["cell_end"] is not None and now > state["cell_end"]:
                stop(f"a cell ran longer than {limits.cell:g} s and ignored the interrupt; the kernel was stopped")

    def cell_run(cell, index, **kw):
        state["cell_end"] = time.monotonic() + 2 * limits.cell + 10
        try:
            client.execute_cell(cell, index, **kw)
        except Exception as exc:  # noqa: BLE001 - a dead or killed kernel: the notebook stops here
            raise Stopped(state["why"] or _why(exc)) from None
        finally:
            state["cell_end"] = None

    def run(code):
        cell = nbformat.v4.new_code_cell(code)
        cell_run(cell, index, store_history=False)
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if not errors:
            return None
        if errors[0].get("ename") == "KeyboardInterrupt":
            return f"timed out: a call ran longer than {limits.cell:g} s and was interrupted"
        return errors[0].get("ename", ""), str(errors[0].get("evalue", "")).split("\n")[0]

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        with client.setup_kernel(env=box.env(), stderr=subprocess.DEVNULL):
            watcher.start()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if index in checks:
                    checks[index](run)
                else:
                    cell_run(cell, index)
                if state["why"]:
                    return state["why"]
    except Stopped as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a kernel that never started
        return state["why"] or _why(exc)
    finally:
        done.set()
        box.kill()
    return state["why"]
