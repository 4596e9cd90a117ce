"""Atomic, deterministic file writes: an output is either the old file or the whole new one; and
the one check that a path given by the user is one the operating system can take."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

NAME_BYTES = 255  # the longest file name (one path component) Linux and macOS file systems take
PATH_BYTES = 4095  # the longest path the kernel takes (PATH_MAX, less its NUL)


def os_path_problem(text: str) -> str | None:
    """Why the operating system would refuse ``text`` as a path (a name over 255 bytes, the whole
    over 4,095), naming it; None when it can take it. Checked up front, so a command refuses the
    path in one line instead of failing with an OSError once its work has started."""
    size = len(os.fsencode(text))
    longest = max((len(os.fsencode(part)) for part in text.split("/")), default=0)
    shown = repr(text if len(text) <= 60 else text[:57] + "...")
    if size > PATH_BYTES:
        return f"{shown}: a path of {size:,} bytes; paths hold at most {PATH_BYTES:,}"
    if longest > NAME_BYTES:
        return f"{shown}: a name of {longest:,} bytes in the path; file names hold at most {NAME_BYTES}"
    return None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A ``path`` that is a folder, or below a file, is refused naming it (nothing is written)."""
    from graft.core.errors import GraftError

    target = Path(path)
    if target.is_dir():
        raise GraftError(f"{target}: is a folder, so the file cannot be written there")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise GraftError(
            f"{target}: a part of its folder is a file, so the file cannot be written there"
        ) from None
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).chmod(0o644)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _clean(value: Any) -> Any:
    """Make a value JSON-safe and stable: NaN/inf become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(_clean(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj))


def write_parquet(path: str | os.PathLike[str], frame: Any) -> Path:
    """Write a pandas DataFrame as Parquet atomically (index dropped, zstd, no timestamps)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd", engine="pyarrow")
    return atomic_write_bytes(path, buffer.getvalue())
