"""The package's shape: one owner per job, imports that flow one way, modules of a
readable size, and settings that live in one place and reach every chapter."""
import ast
import re

import pytest
import torch

from sslbook import losses, recipes, train

#: The layers, lowest first. A module may import only modules of its own layer or below.
LAYERS = [
    {"_validate", "config", "distributed", "precision", "stats"},
    {"data", "cifar", "text", "scenes"},
    {"augment", "masking"},
    {"models", "attention", "jepa"},
    {"losses", "families"},
    {"steps", "train", "checkpoints", "compress", "byol"},
    {"recipes", "cli", "project", "domains", "multimodal", "tools", "zoo", "objects"},
    {"evaluate", "geometry", "interpret", "clinical"},
    {"applications"},
    {"plots", "diagrams"},
    {"widgets", "frames"},
    {"exercises"},
    {"student"},
    {"proxy", "sandbox", "checking"},
    {"grade"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def package_imports(root):
    """{module: {sslbook modules it imports}}, read from the source (sslbook/__init__ is level 0)."""
    graph = {}
    for path in sorted((root / "sslbook").rglob("*.py")):
        rel = path.relative_to(root / "sslbook")
        name = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "__init__"
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = node.module.split(".")[0] if node.module else None
                up = node.level > (2 if len(rel.parts) > 1 else 1)
                if up:
                    continue
                if len(rel.parts) > 1 and node.level == 1:
                    continue  # inside a subpackage: its own modules
                targets = [base] if base else [a.name for a in node.names]
                deps.update(t for t in targets if t in LEVEL or t == "__init__")
            elif isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                deps.add(node.module.split(".")[0])
        deps.discard(name)
    return graph


def test_every_module_has_a_layer(root):
    modules = set(package_imports(root)) - {"__init__"}
    assert modules <= set(LEVEL), f"modules without a layer: {sorted(modules - set(LEVEL))}"


def test_imports_flow_one_way(root):
    upward = [(m, d) for m, deps in package_imports(root).items() if m != "__init__"
              for d in deps if d in LEVEL and LEVEL[d] > LEVEL[m]]
    assert upward == [], f"upward imports (module, imported): {upward}"


def test_the_package_root_imports_only_the_lowest_layer(root):
    assert package_imports(root)["__init__"] <= {"config", "distributed"}


def test_no_module_is_over_350_lines(root):
    long = {str(p.relative_to(root)): n for p in (root / "sslbook").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 350}
    assert long == {}


def test_imports_sit_at_the_top_except_optional_libraries(root):
    # torchao: imported where it quantizes (compress), since importing it costs seconds and, in 0.18,
    # logs a deprecation line of its own into every chapter that would import it.
    optional = {"myst_nb", "jupytext", "nbformat", "nbclient", "torchao"}
    inside = []
    for path in (root / "sslbook").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        names = [inner.module or ""] if isinstance(inner, ast.ImportFrom) else [a.name for a in inner.names]
                        if not all(n.split(".")[0] in optional for n in names):
                            inside.append(f"{path.name}:{inner.lineno}")
    assert inside == []


# --- one place for a setting ---------------------------------------------------

def test_a_temperature_changed_in_losses_reaches_losses_steps_and_recipes(monkeypatch):
    z1, z2 = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.randn(8, 4)
    before = losses.info_nce(z1, z2)
    monkeypatch.setitem(losses.TEMPERATURES, "simclr", 0.1)
    assert losses.info_nce(z1, z2) == losses.info_nce(z1, z2, 0.1) != before
    assert recipes.DIGITS.temperature_for("simclr") == 0.1
    quick = recipes.recipe()                       # a recipe's own override wins over the default
    assert quick.temperature_for("simclr") == quick.temperature["simclr"] != 0.1
    run = recipes.pretrain("digits", torch.rand(32, 1, 8, 8), recipe=recipes.DIGITS.replace(batch_size=16),
                           steps=1, progress=False)
    assert run.meta["temperature"] == 0.1
    monkeypatch.setitem(losses.TEMPERATURES, "moco", 0.05)
    assert recipes.recipe().temperature_for("moco") == 0.05


def test_no_chapter_or_benchmark_writes_a_default_temperature(root):
    """Chapters take the temperature from the package (losses.TEMPERATURES, a recipe or a default)."""
    pattern = re.compile(r"temperature\s*=\s*[0-9.]+|TemperatureExplorer\([^)]*value\s*=\s*[0-9.]|"
                         r"(info_nce|moco_loss)\([^()]*,[^()]*,\s*[0-9.]+\)")
    found = []
    for path in [*root.glob("chapters/*.md"), *root.glob("benchmarks/*.py")]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "not the default" not in line:
                found.append(f"{path.name}:{i}: {line.strip()}")
    assert found == []


def test_the_budget_reaches_the_recipe_and_by_budget(monkeypatch):
    monkeypatch.setenv("SSLBOOK_BUDGET", "full")
    assert recipes.recipe() is recipes.RECIPES["full"] and recipes.recipe().arch == "resnet18"
    import sslbook
    assert sslbook.by_budget(1, 2) == 2
    monkeypatch.setenv("SSLBOOK_BUDGET", "quick")
    assert recipes.recipe() is recipes.RECIPES["quick"] and sslbook.by_budget(1, 2) == 1


def test_chapters_size_runs_with_the_budget_switch_not_the_environment(root):
    for path in root.glob("chapters/*.md"):
        text = path.read_text()
        assert "os.environ" not in text, f"{path.name} reads the environment itself"


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_step_functions_take_their_default_temperature_from_losses(method, monkeypatch):
    monkeypatch.setitem(losses.TEMPERATURES, method, 0.0)  # an invalid default must be caught
    with pytest.raises(ValueError, match="temperature must be"):
        if method == "simclr":
            train.simclr_step(None, torch.rand(4, 1, 8, 8), None)
        else:
            train.moco_step(None, None, None, torch.rand(4, 1, 8, 8), None)
