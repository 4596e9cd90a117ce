"""The serving adapter: the project's own code that describes and encodes one input record.

graft never imports a project's pipeline code from the environment. A project lists, in
``graft.yaml``, the files serving needs and names the entry module::

    package:
      adapter: src/serving.py
      code: [src/serving.py, src/features.py]

`graft package` copies those files, as committed, into the package under ``code/`` (each one
covered by the manifest's SHA-256); `graft serve` loads them from the package, and the
version rule loads them from a commit's Git objects. :func:`load` executes the
files from memory under a private module name (``_graft_code_<n>``): two packages never
collide, neither site-packages nor the working directory is searched, and an absolute import
of a shipped module (``from src.features import encode``) resolves to the shipped copy, as
does a relative one (``from .features import encode``) or a script-style import of a module
beside the entry (``import features``).

The entry module's contract (two functions, plain Python and numpy; it imports nothing from
graft):

``input_schema(params: Mapping[str, Any]) -> dict``
    JSON Schema of one input record: ``{"type": "object", "properties": {...}}`` with one
    property per raw input column (``type`` ``integer``, ``number`` or ``string``, optionally
    with ``"null"``; ``minimum``/``maximum``/``enum``), ``required`` and
    ``additionalProperties: false``. ``params`` is the project's ``params.yaml``.

``encode(columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> inputs``
    Validated columns (every schema property -> one value per record, ``None`` where a value
    is missing) -> what the model takes, one row per record: a float64 matrix of shape
    ``(records, model features)`` in the order the model was trained on (no records give a
    ``(0, features)`` matrix), or whatever the model's own ``predict`` accepts: a DataFrame, a
    SciPy sparse matrix, a 1-D array or list of texts for a text pipeline, a dict of arrays
    for a multi-input ONNX graph. ``spec`` holds the package's data files parsed (JSON/YAML
    by suffix, else bytes): every ``package.files`` entry by its name in the package, and
    ``params.yaml``. Inputs need not be numbers: a ``string`` property without ``enum`` is
    free text.

Two optional functions (see :mod:`graft.release.flavours`):

``predict(model, inputs) -> scores``
    Replaces the flavour's own prediction call: ``model`` is the loaded model, ``inputs`` what
    ``encode`` returned; scores as the task defines them (binary: P(positive) per record, or
    one column per class; multiclass: ``(records, classes)`` probabilities in ``task.labels``
    order; regression: the value).

``load_model(path) -> model``
    For the ``custom`` flavour only (``package.flavour: custom``, or a model file no flavour
    recognises): load the model file (a :class:`pathlib.Path`, valid
    during the call only); without it ``model`` is the file's bytes.

Data files must come through ``spec``: shipped code has no folder on disk to read beside it.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.abc
import importlib.machinery
import itertools
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from graft.core.errors import GraftError

CONTRACT = ("input_schema", "encode")
OPTIONAL = ("predict", "load_model")
_COUNTER = itertools.count(1)
_LOCK = threading.Lock()


class AdapterError(GraftError):
    """The project's serving adapter is missing, cannot be loaded or breaks its contract."""


def module_name(path: str) -> str:
    """``src/serving.py`` -> ``src.serving``; ``pkg/__init__.py`` -> ``pkg``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def check_code_paths(paths: Sequence[str], where: str) -> None:
    """Project-relative ``.py`` paths that name importable modules; errors name the path."""
    for path in paths:
        parts = path.split("/")
        if path.startswith("/") or ".." in parts or not path.endswith(".py"):
            raise AdapterError(f"{where}: '{path}' must be a .py file inside the project")
        if not all(p.removesuffix(".py").isidentifier() for p in parts):
            raise AdapterError(f"{where}: '{path}' is not an importable module path")


class _Importer(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and executes ``<prefix>.<module>`` from source held in memory."""

    def __init__(self, prefix: str, files: Mapping[str, bytes], origin: str) -> None:
        self.prefix = prefix
        self.origin = origin
        self.sources: dict[str, tuple[str, bytes]] = {}
        self.packages: set[str] = {""}
        for path, source in files.items():
            name = module_name(path)
            self.sources[name] = (path, source)
            parts = name.split(".")
            is_package = path.endswith("__init__.py")
            self.packages.update(".".join(parts[:i]) for i in range(1, len(parts) + (1 if is_package else 0)))
        self.roots = {n.split(".")[0] for n in [*self.sources, *self.packages] if n}
        self.builtins: dict[str, Any] = dict(vars(builtins))
        self.builtins["__import__"] = self._import
        self._real_import: Callable[..., ModuleType] = builtins.__import__

    # --- the import statement inside shipped code ----------------------------------------------

    def shipped(self, name: str, importer: str | None) -> str | None:
        """The private name of an absolute import ``name`` that a shipped module resolves to."""
        top = name.split(".")[0]
        if top in self.roots:
            return f"{self.prefix}.{name}"
        if importer and importer.startswith(self.prefix + "."):
            folder = importer[len(self.prefix) + 1 :].rpartition(".")[0]
            beside = f"{folder}.{top}" if folder else top
            if beside in self.sources or beside in self.packages:  # script-style sibling import
                return f"{self.prefix}.{folder}.{name}" if folder else f"{self.prefix}.{name}"
        return None

    def _import(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        if level == 0:
            importer = (globals or {}).get("__name__")
            target = self.shipped(name, importer if isinstance(importer, str) else None)
            if target is not None:
                module = self._real_import(target, globals, locals, fromlist, 0)
                if fromlist:
                    return module
                # `import a.b` binds `a`: the private copy of the first component
                return sys.modules[target[: len(target) - len(name)] + name.split(".")[0]]
        return self._real_import(name, globals, locals, fromlist, level)

    # --- finder and loader -------------------------------------------------------------------

    def _relative(self, fullname: str) -> str | None:
        if fullname == self.prefix:
            return ""
        if fullname.startswith(self.prefix + "."):
            return fullname[len(self.prefix) + 1 :]
        return None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        rel = self._relative(fullname)
        if rel is None:
            return None
        is_package = rel in self.packages
        if not is_package and rel not in self.sources:
            return None
        where = self.sources[rel][0] if rel in self.sources else (rel.replace(".", "/") or ".")
        spec = importlib.machinery.ModuleSpec(
            fullname, self, origin=f"{self.origin}:{where}", is_package=is_package
        )
        if is_package:
            spec.submodule_search_locations = []
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        rel = self._relative(module.__name__)
        module.__dict__["__builtins__"] = self.builtins
        if rel is None or rel not in self.sources:
            return  # a folder without __init__.py: an empty package
        path, source = self.sources[rel]
        module.__file__ = f"{self.origin}:{path}"
        code = compile(source, module.__file__, "exec", dont_inherit=True)
        exec(code, module.__dict__)


@dataclass
class Adapter:
    """A loaded entry module and the private namespace its code lives in."""

    module: ModuleType
    entry: str
    origin: str
    importer: _Importer = field(repr=False)

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.module, name)(*args)
        except GraftError:
            raise
        except Exception as exc:  # the project's code failed: name it and what it raised
            raise AdapterError(
                f"{self.origin}:{self.entry}: {name}() failed: {exc.__class__.__name__}: {exc}"
            ) from exc

    def input_schema(self, params: Mapping[str, Any]) -> dict[str, Any]:
        schema = self._call("input_schema", params)
        where = f"{self.origin}:{self.entry}: input_schema()"
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise AdapterError(
                f"{where} must return a JSON Schema of an object (got {type(schema).__name__})"
            )
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            raise AdapterError(f"{where} must return a schema with at least one property")
        return schema

    def encode(self, columns: Mapping[str, Sequence[Any]], spec: Mapping[str, Any]) -> Any:
        """What the model takes for ``columns``: anything with one row per record."""
        inputs = self._call("encode", columns, spec)
        rows = len(next(iter(columns.values()))) if columns else 0
        where = f"{self.origin}:{self.entry}: encode()"
        got = input_rows(inputs)
        if got is None:
            raise AdapterError(
                f"{where} must return one row per record (an array, matrix, DataFrame, list, or a dict "
                f"of them), got {type(inputs).__name__}"
            )
        if got != rows:
            raise AdapterError(f"{where} returned {got} rows for {rows} records")
        return inputs

    def has(self, name: str) -> bool:
        """The adapter defines the optional function ``name`` (one of ``OPTIONAL``)."""
        return callable(getattr(self.module, name, None))

    def predict(self, model: Any, inputs: Any) -> Any:
        return self._call("predict", model, inputs)

    def load_model(self, path: Any) -> Any:
        return self._call("load_model", path)

    def close(self) -> None:
        """Forget the private modules (the adapter's functions must not be called afterwards)."""
        with _LOCK:
            prefix = self.importer.prefix
            for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
                del sys.modules[name]
            if self.importer in sys.meta_path:
                sys.meta_path.remove(self.importer)


def input_rows(inputs: Any) -> int | None:
    """The records ``encode`` returned rows for (None: not a row-wise value)."""
    if isinstance(inputs, Mapping):
        counts = {input_rows(v) for v in inputs.values()}
        return counts.pop() if len(counts) == 1 else None
    shape = getattr(inputs, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    if isinstance(inputs, (list, tuple)):
        return len(inputs)
    return None


def load(files: Mapping[str, bytes], entry: str, origin: str) -> Adapter:
    """Execute ``entry`` (one of ``files``: project path -> source) in a private namespace.

    ``origin`` names where the files came from in every message (a package, ``<rev>``).
    """
    check_code_paths([*files, entry], origin)
    if entry not in files:
        raise AdapterError(f"{origin}: the adapter '{entry}' is not among the shipped code files")
    prefix = f"_graft_code_{next(_COUNTER)}"
    importer = _Importer(prefix, files, origin)
    with _LOCK:
        sys.meta_path.insert(0, importer)
    adapter_name = f"{prefix}.{module_name(entry)}"
    try:
        module = importlib.import_module(adapter_name)
    except ImportError as exc:
        Adapter(ModuleType(adapter_name), entry, origin, importer).close()
        missing = (exc.name or "").removeprefix(prefix + ".")
        raise AdapterError(
            f"{origin}:{entry}: cannot import '{missing or exc}': ship its file in graft.yaml "
            "package.code (or install the third-party package it comes from)"
        ) from None
    except Exception as exc:  # the module failed while executing
        Adapter(ModuleType(adapter_name), entry, origin, importer).close()
        raise AdapterError(f"{origin}:{entry}: failed to load: {exc.__class__.__name__}: {exc}") from None
    adapter = Adapter(module, entry, origin, importer)
    lacking = [name for name in CONTRACT if not callable(getattr(module, name, None))]
    if lacking:
        adapter.close()
        raise AdapterError(
            f"{origin}:{entry}: the serving adapter must define {', '.join(f'{n}()' for n in lacking)} "
            "(see graft.release.adapter)"
        )
    return adapter
