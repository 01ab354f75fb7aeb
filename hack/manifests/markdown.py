"""The YAML code blocks of a Markdown file: what a reader would copy into ``kubectl apply -f -``.

Only fenced blocks whose info string is ``yaml`` or ``yml`` count; shell blocks (heredocs included) do not. Each
block is parsed the way kubectl reads it (``ironlb.config.yamlload``: YAML 1.2-ish scalars, duplicate keys
refused), so ``64512:100`` stays a string, as it does for kubectl and MetalLB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ironlb.config import yamlload

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def documents(self) -> list[Any]:
        """The block's YAML documents, empty ones dropped."""
        return [doc for doc in yamlload.load_all(self.text) if doc is not None]


def yaml_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    blocks: list[Block] = []
    for match in _FENCE.finditer(text):
        if match.group("info").strip().split(" ")[0].lower() in ("yaml", "yml"):
            body = "\n".join(line.removeprefix(match.group("indent")) for line in match.group("body").split("\n"))
            blocks.append(Block(path, text.count("\n", 0, match.start()) + 1, body))
    return blocks


__all__ = ["Block", "yaml_blocks"]
