"""Run the examples of README.md and docs/*.md that are marked runnable, at tiny sizes.

A fenced block preceded by the line ``<!-- test: run -->`` is runnable: in a ``bash`` block
every line is a ``ganzoo`` command (anything else is an error, so the marker cannot be put on
a block the test cannot run); a ``python`` block is executed as it is. Commands run in a
sandbox folder holding ``recipes/`` (the repository's), ``DATA/`` (a tiny data set in the
CycleGAN layout), ``photos/`` and ``data/horse2zebra`` (tiny images), so the README's
placeholders are real folders.

The examples train for hundreds of iterations at full size; the test shrinks them the way a
user would, with ``--set`` (appended to ``run`` commands, so they win) or, for Python, with
the same overrides merged into ``ganzoo.train``'s. The shrinking keys are chosen from the
recipe the command resolves to, so the README's own overrides (``--data``, ``--set``) still
take effect and are still tested.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- test: run -->"
VALUE_OPTIONS = {"-s", "--set", "--unset", "--data", "--out", "-o", "--metrics", "-m", "--direction", "-d",
                 "--format", "--json", "--split", "-n", "--max-items", "-b", "--batch-size"}
"""Options that take a value (enough of them to find a command's positional arguments)."""


@dataclass(frozen=True)
class Block:
    source: str
    line: int
    language: str
    text: str


def runnable_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file preceded by the marker line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        match = re.fullmatch(r"```(\w+).*", fence.strip())
        if not match:
            raise AssertionError(f"{path.name}:{i + 1}: {MARKER} must be followed by a fenced block with a language")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        blocks.append(Block(path.name, i + 2, match[1], "\n".join(lines[i + 2:end])))
    return blocks


def commands(block: Block) -> Iterator[list[str]]:
    """The argument lists of a bash block's commands (comments dropped, continuations joined)."""
    text = block.text.replace("\\\n", " ")
    for line in text.splitlines():
        args = shlex.split(line, comments=True)
        if not args:
            continue
        if args[0] != "ganzoo":
            raise AssertionError(f"{block.source}:{block.line}: a runnable block may hold only ganzoo commands, "
                                 f"got: {line.strip()}")
        yield args[1:]


def options(args: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(positional arguments, option -> values) of a command's arguments (after its name)."""
    positional: list[str] = []
    given: dict[str, list[str]] = {}
    it = iter(args)
    for arg in it:
        if arg in VALUE_OPTIONS:
            given.setdefault(arg, []).append(next(it))
        elif not arg.startswith("-"):
            positional.append(arg)
    return positional, given


def tiny_overrides(recipe: dict[str, Any]) -> dict[str, Any]:
    """Overrides that make a resolved recipe (``to_dict()``) train in a second or two."""
    tiny: dict[str, Any] = {"train.iterations": 2, "train.batch_size": 2, "train.log_every": 1,
                            "train.sample_every": 0, "train.checkpoint_every": 0, "train.eval_items": 4,
                            "train.num_workers": 0, "train.tensorboard": False}
    candidates = {"data": {"image_size": 16, "train_size": 8, "test_size": 4, "load_size": 18, "crop_size": 16,
                           "max_items": 4},
                  "generator": {"ngf": 4}, "discriminator": {"ndf": 4, "n_layers": 2}}
    for table, values in candidates.items():
        present = recipe.get(table, {})
        tiny.update({f"{table}.{k}": v for k, v in values.items() if k in present or (k == "max_items"
                     and "load_size" in present)})
    return tiny


def shrink(args: list[str], registry: Any) -> list[str]:
    """A command's arguments with tiny ``--set``s appended to ``run`` (chosen from the recipe it
    resolves to) and a tiny length for a ``resume`` that sets one."""
    from ganzoo.recipe import load_recipe

    name, rest = args[0], args[1:]
    positional, given = options(rest)
    if name == "run":
        resolved = load_recipe(positional[0], given.get("-s", []) + given.get("--set", []), registry,
                               check_data=False, unset=given.get("--unset", []),
                               data=(given.get("--data") or [None])[-1])
        return args + [f"--set={k}={v!r}" if isinstance(v, str) else f"--set={k}={str(v).lower()}"
                       for k, v in tiny_overrides(resolved.to_dict()).items()]
    if name == "resume" and any("train.iterations" in v for v in given.get("-s", []) + given.get("--set", [])):
        return [*args, "--set", "train.iterations=3"]
    return args


def make_sandbox(root: Path) -> Path:
    """A folder where the README's paths exist, with tiny images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)

    def images(folder: Path, n: int, size: tuple[int, int] = (20, 24)) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")

    (root / "recipes").symlink_to(REPO / "recipes")
    for data in (root / "DATA", root / "data" / "horse2zebra"):
        for split in ("trainA", "trainB", "testA", "testB"):
            images(data / split, 4)
    images(root / "photos", 2, (17, 23))
    return root


def run_bash_block(block: Block, invoke: Callable[..., Any], registry: Any) -> None:
    """Run every command of a bash block; the first that fails fails the test, with its output."""
    for args in commands(block):
        args = shrink(args, registry)
        result = invoke(*args, "--no-progress") if args[0] in ("run", "resume", "translate", "evaluate") \
            else invoke(*args)
        assert result.exit_code == 0, (f"{block.source}:{block.line}: `ganzoo {' '.join(args)}` exited "
                                       f"{result.exit_code}:\n{result.stdout}\n{result.stderr}")
