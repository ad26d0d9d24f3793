"""``python -m ganzoo.cli`` (and ``torchrun -m ganzoo.cli run recipe.toml``)."""

from ganzoo.cli import main

main()
