"""The tables a pipeline declares at a revision, and one of them opened to be read in chunks.

* Declared: every output of a stage (``outs``, ``metrics``, ``plots``, of every dvc.yaml) and
  of a ``.dvc`` file (``dvc add``), a declared folder contributing the files in it, that is a
  table by its name: ``.csv``, ``.tsv``, ``.parquet`` / ``.pq``. Nothing else is read: a path
  the pipeline does not declare is refused, naming the declared tables.
* Read from where the revision keeps it (the project layer, :mod:`graft.project.source`): a
  DVC-cached output from DVC's cache by the hash the revision records (fetched from the DVC
  remote when missing), streamed from the cache file; a ``cache: false`` output from its Git
  blob, read whole (up to ``GRAFT_LIMIT_DATA_MEMORY_BYTES``).
* Batches (Arrow record batches): CSV and TSV with pyarrow's streaming reader, a block of
  bytes at a time, every value read as text (so a column is typed from all of its values, not
  per block, and a value compares the same in every block; empty, ``NA``, ``null``... are
  missing); Parquet with pyarrow, batch by batch, typed as stored. A batch stays within about a
  quarter of ``GRAFT_LIMIT_DATA_MEMORY_BYTES`` (:func:`block_bytes`, :func:`chunk_rows`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from graft.core import limits
from graft.core.errors import DataError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from graft.project.source import GitSource
    from graft.project.view import View

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_SKIP_DIRS = frozenset({".git", ".dvc", "node_modules", "__pycache__", ".venv"})
SHOWN_NAMES = 20  # declared tables named in an error message
CELL_BYTES = 80  # a cell's memory once read (a Python str, or a number and its share of a frame)
MIN_CHUNK_ROWS, MAX_CHUNK_ROWS = 1_000, 1_000_000
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 64 * 1024, 64 * 1024 * 1024


def _index(name: str) -> bool:
    """A pandas index pyarrow stored as a column (not one of the table's columns)."""
    return name.startswith("__index_level_")


def table_format(path: str) -> str | None:
    """csv, tsv or parquet by the file's name; None: not a table graft reads."""
    name = path.lower()
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def _git_source(view: View) -> GitSource:
    from graft.project.source import GitSource

    if not isinstance(view.source, GitSource):
        raise UsageError("graft data reads committed revisions, not the working tree")
    return view.source


# subtree id -> the .dvc files below it (relative paths), shared by every commit of a process
_TREE_DVC_FILES: dict[str, tuple[str, ...]] = {}


def _dvc_files(tree: pygit2.Tree) -> tuple[str, ...]:
    """Every ``.dvc`` file below ``tree``, memoised by subtree id (commits share folders)."""
    key = str(tree.id)
    if key not in _TREE_DVC_FILES:
        found: list[str] = []
        for child in tree:
            if child.type_str == "blob" and str(child.name).endswith(".dvc"):
                found.append(str(child.name))
            elif child.type_str == "tree" and child.name not in _SKIP_DIRS:
                found.extend(f"{child.name}/{p}" for p in _dvc_files(child.peel(pygit2.Tree)))
        _TREE_DVC_FILES[key] = tuple(sorted(found))
    return _TREE_DVC_FILES[key]


def declared_outputs(view: View) -> list[str]:
    """Every output path the pipeline declares at this revision (stage outputs, then ``.dvc``
    files' outputs): files or folders, from the project root."""
    from graft.project.dvcfile import join_posix

    found = dict.fromkeys(view.pipeline.outputs)
    for dvc_file in _dvc_files(_git_source(view).commit.tree):
        document = view.document(dvc_file)
        outs = document.get("outs") if document else None
        folder = dvc_file.rpartition("/")[0]
        for out in outs if isinstance(outs, list) else []:
            if isinstance(out, dict) and out.get("path"):
                found[join_posix(folder, str(out["path"]))] = None
    return list(found)


def tables_at(root: str | Path, rev: str) -> list[str]:
    """:func:`declared_tables` of the project at ``root`` at revision ``rev``."""
    from graft.project import Project

    return declared_tables(Project(root).at(rev))


def declared_tables(view: View) -> list[str]:
    """The tables the pipeline declares at this revision (files inside declared folders
    included), sorted."""
    tables: set[str] = set()
    for output in declared_outputs(view):
        if table_format(output) is not None:
            tables.add(output)
        else:
            tables.update(p for p in view.paths_under(output) if table_format(p) is not None)
    return sorted(tables)


def _named(paths: list[str]) -> str:
    if not paths:
        return "none"
    shown = ", ".join(paths[:SHOWN_NAMES])
    return shown + (f" and {len(paths) - SHOWN_NAMES} more" if len(paths) > SHOWN_NAMES else "")


def chunk_rows(columns: int) -> int:
    """Parquet rows per batch: about a quarter of ``GRAFT_LIMIT_DATA_MEMORY_BYTES`` at
    ``CELL_BYTES`` a cell."""
    budget = limits.DATA_MEMORY_BYTES.value() // 4
    return max(MIN_CHUNK_ROWS, min(MAX_CHUNK_ROWS, budget // (CELL_BYTES * max(columns, 1))))


def block_bytes() -> int:
    """CSV bytes per block: a 32nd of ``GRAFT_LIMIT_DATA_MEMORY_BYTES`` (a block's text and its
    numbers, parsed, and what is computed from them stay within about a quarter of it)."""
    return max(MIN_BLOCK_BYTES, min(MAX_BLOCK_BYTES, limits.DATA_MEMORY_BYTES.value() // 32))


@dataclass(frozen=True)
class Table:
    """One declared table at one revision, ready to be read in batches."""

    path: str
    rev: str
    commit: str
    format: str
    stored: str  # dvc | git
    size: int  # bytes
    digest: str
    file: Path | None  # the DVC cache file (stored == "dvc")
    data: bytes | None  # the Git blob (stored == "git")

    @property
    def where(self) -> str:
        return f"{self.path} at {self.rev}"

    def _open(self) -> Any:
        """The file as an Arrow input stream (read natively, no Python buffer in between)."""
        import pyarrow as pa

        if self.file is not None:
            return pa.OSFile(str(self.file), "rb")
        return pa.BufferReader(self.data or b"")

    def _unreadable(self, exc: Exception) -> DataError:
        detail = " ".join(str(exc).split())[:200]
        kind = "Parquet" if self.format == "parquet" else self.format.upper()
        return DataError(f"{self.where}: cannot be read as {kind} ({exc.__class__.__name__}: {detail})")

    def _csv(self, handle: Any, names: list[str] | None) -> Any:
        """A streaming reader (one thread, so one block in memory at a time): every column
        ``names`` as text; without names, for the header (types guessed from a small block)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        block = block_bytes() if names else MIN_BLOCK_BYTES
        return pcsv.open_csv(
            handle,
            read_options=pcsv.ReadOptions(block_size=block, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter="\t" if self.format == "tsv" else ","),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names or []}, strings_can_be_null=True
            ),
        )

    def columns(self) -> list[str]:
        """The column names, read from the header (CSV) or the schema (Parquet); a name that
        appears twice is refused."""
        if self.size == 0:
            return []
        try:
            with self._open() as handle:
                if self.format == "parquet":
                    import pyarrow.parquet as pq

                    names = [str(n) for n in pq.ParquetFile(handle).schema_arrow.names]
                else:
                    names = [str(n) for n in self._csv(handle, None).schema.names]
        except (ValueError, OSError, UnicodeDecodeError) as exc:  # pyarrow's errors are ValueErrors/OSErrors
            raise self._unreadable(exc) from None
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"{self.where}: column names appear more than once: {', '.join(twice)}")
        return [n for n in names if not _index(n)]

    def types(self) -> dict[str, pa.DataType]:
        """A Parquet table's column -> Arrow type (empty for CSV and TSV, read as text)."""
        if self.format != "parquet" or self.size == 0:
            return {}
        import pyarrow.parquet as pq

        try:
            with self._open() as handle:
                schema = pq.ParquetFile(handle).schema_arrow
        except (ValueError, OSError) as exc:
            raise self._unreadable(exc) from None
        return {str(f.name): f.type for f in schema}

    def batches(self, names: list[str]) -> Iterator[pa.RecordBatch]:
        """The table's columns ``names`` (:meth:`columns`), a batch at a time: CSV and TSV a block
        of :func:`block_bytes` at a time, every value as text (empty, NA, null... as missing);
        Parquet :func:`chunk_rows` rows at a time, typed as stored."""
        if self.size == 0:
            return
        try:
            with self._open() as handle:
                if self.format == "parquet":
                    import pyarrow.parquet as pq

                    yield from pq.ParquetFile(handle).iter_batches(
                        batch_size=chunk_rows(len(names)), columns=names
                    )
                    return
                yield from self._csv(handle, names)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise self._unreadable(exc) from None


def open_table(view: View, path: str) -> Table:
    """Declared table ``path`` at ``view``'s revision; errors name the path, the revision and
    what the pipeline declares there."""
    source = _git_source(view)
    path = path.strip("/")
    if view.revision is None:
        raise UsageError("graft data reads committed revisions, not the working tree")
    rev, commit = view.revision.name, view.revision.sha
    tables = declared_tables(view)
    if path not in tables:
        outputs = declared_outputs(view)
        inside = any(path == o or path.startswith(f"{o}/") for o in outputs)
        if inside and table_format(path) is None:
            raise UsageError(
                f"{path} at {rev}: not a table (graft reads CSV, TSV and Parquet files); "
                f"declared tables: {_named(tables)}"
            )
        raise UsageError(
            f"{path} at {rev}: not a table the pipeline declares (a `dvc add`-ed file or a stage "
            f"output); declared tables: {_named(tables)}"
        )
    fmt = table_format(path) or ""
    bound = limits.DATA_MEMORY_BYTES
    if source.exists_in_git(path):
        data = source.read(path)
        if data is None:
            raise DataError(f"{path} at {rev}: not a file")
        if len(data) > bound.value():
            raise DataError(bound.over(f"{path} at {rev} (kept in Git, read whole)", f"{len(data):,} bytes"))
        blob = source.commit.tree[path]
        return Table(path, rev, commit, fmt, "git", len(data), f"git:{blob.id}", None, data)
    found = source.dvc_object(path)
    if found is None:
        why = source.unreadable(path) or "not recorded in dvc.lock or a .dvc file"
        raise DataError(f"{path} at {rev}: {why}")
    file, md5 = found
    return Table(path, rev, commit, fmt, "dvc", file.stat().st_size, f"md5:{md5}", file, None)
