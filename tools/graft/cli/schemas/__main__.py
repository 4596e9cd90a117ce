"""``python -m graft.cli.schemas [FOLDER]``: regenerate the JSON Schemas from the result models."""

from __future__ import annotations

import sys
from pathlib import Path

from graft.cli.schemas import HERE, write


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE
    for path in write(folder):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
