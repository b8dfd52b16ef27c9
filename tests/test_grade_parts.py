"""The grader's parts without a kernel (issue 26): data-only replies, the write-back of arguments changed
in place, reading a check cell, statuses, and the sandbox's folder, environment and command line."""
import ast
import io
import os
import pickle
import shutil
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from sslbook import checking, exercises, proxy, sandbox


def roundtrip(value):
    buffer = io.BytesIO()
    torch.save(proxy.encode(value), buffer)
    buffer.seek(0)
    return proxy.decode(torch.load(buffer, weights_only=True))


def test_data_travels_as_plain_values():
    value = {"a": [1, 2.5, "x", None, (True, np.float32(3.5))], 3: torch.arange(6)[2:], "n": np.eye(2),
             "s": {1, 2}, "c": 1 + 2j, "b": b"raw"}
    back = roundtrip(value)
    assert back.keys() == value.keys() and back["a"] == value["a"] and back["s"] == {1, 2}
    assert torch.equal(back[3], torch.tensor([2, 3, 4, 5])) and back[3].untyped_storage().nbytes() == 4 * 8   # no view
    assert np.array_equal(back["n"], np.eye(2)) and back["c"] == 1 + 2j and back["b"] == b"raw"
    g = roundtrip(torch.Generator().manual_seed(5))
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(5)))


class Liar(dict):
    def __eq__(self, other):
        return True


def test_what_is_not_data_arrives_as_a_placeholder_no_checker_accepts():
    class Answer:
        pass
    for value in (torch.nn.Linear(2, 2), Answer(), [lambda x: x]):
        got = roundtrip(value)
        got = got[0] if isinstance(got, list) else got
        assert isinstance(got, proxy.NotData) and "cannot read as data" in repr(got)
    assert type(roundtrip(Liar(a=1))) is dict   # a subclass arrives as its plain contents
    with pytest.raises(exercises.ExerciseError, match="answers must be a dict"):
        exercises.check_signal_kinds(roundtrip(Answer()))


def test_a_reply_is_read_only_as_data(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))
    bad = tmp_path / "reply.pt"
    with open(bad, "wb") as f:
        pickle.dump({"names": Boom()}, f)
    with pytest.raises(proxy.KernelFault, match="not data"):
        proxy.read_reply(bad)
    assert not (tmp_path / "ran").exists()
    link = tmp_path / "link.pt"
    torch.save({"ok": 1}, tmp_path / "good.pt")
    link.symlink_to(tmp_path / "good.pt")
    with pytest.raises(proxy.KernelFault, match="no reply file"):
        proxy.read_reply(link)
    with pytest.raises(proxy.KernelFault, match="no reply file"):
        proxy.read_reply(tmp_path / "missing.pt")
    assert proxy.read_reply(tmp_path / "good.pt") == {"ok": 1}
    for tree in ({"__t": "np", "dtype": "O", "v": 1}, {"__t": "what"}, object()):
        with pytest.raises(proxy.KernelFault):
            proxy.decode(tree)


def test_arguments_changed_in_place_get_the_kernels_state():
    torch.manual_seed(0)
    key, query = torch.nn.Linear(3, 2).requires_grad_(False), torch.nn.Linear(3, 2)
    copy = pickle.loads(pickle.dumps(key))          # what the kernel works on
    with torch.no_grad():
        for k, q in zip(copy.parameters(), query.parameters()):
            k.mul_(0.9).add_(q, alpha=0.1)
    proxy.apply_state(key, proxy.state(copy))
    assert all(torch.equal(a, b) for a, b in zip(key.parameters(), copy.parameters()))
    assert not any(p.requires_grad for p in key.parameters())
    careless = pickle.loads(pickle.dumps(torch.nn.Linear(3, 2).requires_grad_(False)))
    for k, q in zip(careless.parameters(), query.parameters()):   # no torch.no_grad(): history, as in the kernel
        k.mul_(0.9).add_(q, alpha=0.1)
    target = torch.nn.Linear(3, 2).requires_grad_(False)
    proxy.apply_state(target, proxy.state(careless))
    assert all(p.grad_fn is not None for p in target.parameters())
    items, table = [1, 2], {"a": 1}
    proxy.apply_state(items, proxy.state([3]))
    proxy.apply_state(table, proxy.state({"b": 2}))
    assert items == [3] and table == {"b": 2}


def test_a_remote_function_raises_an_exception_of_the_students_name():
    replies = iter([{"names": {"f": {"__t": "fn", "h": 0}, "x": {"__t": "missing"}}},
                    {"raised": ("ZeroDivisionError", "division by zero")}, {"result": 4.0, "args": [None]}])

    class FakeKernel(proxy.Kernel):
        def _request(self, op, payload):
            return next(replies)
    kernel = FakeKernel(None, ".")
    values = kernel.values(["f", "x"])
    assert isinstance(values["x"], proxy.Missing) and repr(values["f"]) == "<the student's f>"
    with pytest.raises(exercises.ExerciseError, match="your function raised ZeroDivisionError on standard_error"):
        exercises.check_standard_error(values["f"])
    assert values["f"](2) == 4.0


@pytest.mark.parametrize("source,expected", [
    ("exercises.check_signal_kinds(answers)",
     checking.Plan("sslbook.exercises", "check_signal_kinds", (("name", "answers"),), ())),
    ("from sslbook.exercises import ch3   # its checker\n\nch3.check_momentum_update(momentum_update)",
     checking.Plan("sslbook.exercises.ch3", "check_momentum_update", (("name", "momentum_update"),), ())),
    ("from sslbook import exercises\nexercises.check_labels_needed(n, probe, target=0.9)",
     checking.Plan("sslbook.exercises", "check_labels_needed", (("name", "n"), ("name", "probe")),
                   (("target", ("const", 0.9)),))),
    ("import os\nexercises.check_triplet(f)", None),
    ("exercises.check_triplet(f())", None),
    ("print('passed')", None),
    ("os.system('x')", None),
])
def test_a_check_cell_is_read_as_one_call_of_a_checker(source, expected):
    assert checking.plan(source) == expected


def test_every_check_cell_of_the_book_is_a_plain_checker_call():
    from sslbook import grade
    for chapter, checks in grade.chapter_checks(grade.CHAPTERS).items():
        for number, source in checks.items():
            p = checking.plan(source)
            assert p is not None, (chapter, number, source)
            assert checking.in_kernel(p) == (p.function == "check_dynamic_quantization"), (chapter, number)


def test_verdicts_use_the_graders_own_exception_class():
    assert checking.verdict(None) == ("passed", "")
    assert checking.verdict(exercises.ExerciseError("Exercise 1.1: scenario c is wrong\nmore")) == (
        "wrong", "scenario c is wrong")
    assert checking.verdict(exercises.ExerciseError("Exercise 1.1: not answered yet: x")) == ("not answered", "")
    fake = type("ExerciseError", (AssertionError,), {})
    assert checking.verdict(fake("Exercise 1.1: fine")) == ("error", "ExerciseError: Exercise 1.1: fine")
    assert checking.verdict(proxy.KernelFault("the kernel died")) == ("error", "the kernel died")


def test_a_check_in_the_kernel_is_marked_as_such():
    cell = {"outputs": [{"output_type": "error", "ename": "ExerciseError", "evalue": "Exercise 8.2: too big"}]}
    assert checking.kernel_status(cell, 10) == ("wrong", f"too big ({checking.IN_KERNEL_NOTE})")
    assert checking.kernel_status({"outputs": []}, 10) == ("passed", checking.IN_KERNEL_NOTE)


def test_the_sandbox_is_a_fresh_folder_with_a_clean_environment(tmp_path, monkeypatch):
    chapters = tmp_path / "book" / "chapters"
    (tmp_path / "book" / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "book" / "benchmarks" / "results" / "r.json").write_text("{}")
    chapters.mkdir()
    (chapters / "01_x.md").write_text("solutions")
    monkeypatch.setenv("SECRET_TOKEN", "x")
    monkeypatch.setenv("SSLBOOK_SEED", "1")
    with sandbox.Sandbox(chapters, hide=[tmp_path / "class"]) as box:
        root = box.root
        assert box.work.is_dir() and not (box.work / "01_x.md").exists()
        copied = root / "book" / "benchmarks" / "results" / "r.json"
        assert copied.read_text() == "{}" and not copied.stat().st_mode & stat.S_IWUSR
        env = box.env()
        assert env["HOME"] == str(box.home) and env["TMPDIR"].startswith(str(root))
        assert "SECRET_TOKEN" not in env and "PWD" not in env and env["SSLBOOK_SEED"] == "1"
        assert env[sandbox.TOKEN_VARIABLE] == box.token
    assert not root.exists()


PROBE = r"""
import os, socket, sys
hidden, port, *targets = sys.argv[1:]
report = {"hidden": sorted(os.listdir(hidden)) if os.path.exists(hidden) else "absent", "cwd": os.getcwd()}
for where in targets:
    try:
        open(where, "w").close()
        report[where] = "written"
    except OSError:
        report[where] = "refused"
try:
    socket.create_connection(("127.0.0.1", int(port)), timeout=2).close()
    report["network"] = "reached"
except OSError:
    report["network"] = "unreachable"
print(report)
"""


@pytest.mark.parametrize("mode", ["bwrap", "unshare"])
def test_a_process_run_as_the_grader_runs_a_kernel_sees_no_network_and_no_hidden_files(tmp_path, mode):
    """Not only the command line: a process actually run the way the grader runs a kernel, in each
    isolation this machine has (.ci/run installs bubblewrap; unshare needs user namespaces)."""
    if shutil.which(mode) is None:
        pytest.skip(f"{mode} is not installed here")
    chapters, secret = tmp_path / "chapters", tmp_path / "class"
    chapters.mkdir()
    (secret / "alice").mkdir(parents=True)
    (secret / "alice" / "answers.ipynb").write_text("{}")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    system = "/usr/sslbook-probe"   # bwrap's system is read-only; unshare's is yours, so it is not tried there
    try:
        with sandbox.Sandbox(chapters, hide=[secret], mode=mode) as box:
            own = str(box.root / "home" / "probe")
            targets = [own, str(secret / "alice" / "planted")] + ([system] if mode == "bwrap" else [])
            cmd = box.command([sys.executable, "-c", PROBE, str(secret), str(server.getsockname()[1]), *targets])
            done = subprocess.run(cmd, env=box.env(), cwd=box.work, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            report = ast.literal_eval(done.stdout.strip().splitlines()[-1])
            assert report["hidden"] in ([], "absent") and report["network"] == "unreachable", report
            assert report[own] == "written" and report["cwd"] == str(box.work), report
            if mode == "bwrap":
                assert report[system] == "refused", report
    finally:
        server.close()
    assert sorted(p.name for p in (secret / "alice").iterdir()) == ["answers.ipynb"]   # nothing planted
    assert not os.path.exists(system)


@pytest.mark.parametrize("mode", ["bwrap", "unshare", "none"])
def test_the_kernel_command_wraps_the_kernel_in_each_mode(tmp_path, mode):
    chapters, secret = tmp_path / "chapters", tmp_path / "class"
    chapters.mkdir()
    secret.mkdir()
    limits = sandbox.Limits(cell=5, notebook=60, output=100, memory=2**30, file_size=2**20)
    with sandbox.Sandbox(chapters, hide=[secret, secret / "alice"], limits=limits, mode=mode) as box:
        cmd = box.command(["python", "-m", "ipykernel_launcher", "-f", "k.json"])
        assert cmd[-5:] == ["python", "-m", "ipykernel_launcher", "-f", "k.json"]
        assert ["RLIMIT_DATA", str(2**30)] == cmd[cmd.index("RLIMIT_DATA"):cmd.index("RLIMIT_DATA") + 2]
        if mode == "bwrap":
            assert cmd[:3] == [os.sys.executable, "-c", sandbox.IGNORE_SIGINT] and "--unshare-all" in cmd
            assert cmd[3:8] == ["bwrap", "--ro-bind", "/", "/", "--dev"] and "--as-pid-1" in cmd
            assert ["--bind", str(box.root), str(box.root)] == cmd[cmd.index("--bind"):cmd.index("--bind") + 3]
        elif mode == "unshare":
            assert cmd[:4] == ["unshare", "--user", "--map-root-user", "--net"]
            assert [cmd[i + 1] for i, x in enumerate(cmd) if x == "--hide"] == sorted(map(str, [chapters, secret]))
        else:
            assert cmd[0] == os.sys.executable and "--hide" not in cmd
    with pytest.raises(ValueError, match="mode must be one of"):
        sandbox.Sandbox(chapters, mode="docker")
