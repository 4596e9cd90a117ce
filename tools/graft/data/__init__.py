"""Versioned data understood by looking at it: a table the pipeline declares, at any revision,
summarised, and two revisions of it compared.

* :mod:`graft.data.tables`: which tables the pipeline declares (``dvc add``-ed files and stage
  outputs: CSV, TSV, Parquet) and reading one at a revision in chunks, from DVC's cache or Git,
  through the project layer.
* :mod:`graft.data.profile`: one streaming pass: rows, per column type, missing share,
  histogram or top categories.
* :mod:`graft.data.keys`: rows added, removed and changed by a key column, in bounded memory.
* :mod:`graft.data.compare`: the diff: rows by key, columns added and removed, and the columns
  whose distribution moved beyond noise, judged with `graft monitor`'s tests.
* :mod:`graft.data.types`: the results (frozen dataclasses with ``as_dict()``).

Bounds (:mod:`graft.core.limits`): ``GRAFT_LIMIT_DATA_MEMORY_BYTES`` (working memory: chunk size,
key partitions, a table kept in Git), ``GRAFT_LIMIT_DATA_SAMPLE_VALUES`` (numeric values sampled
per column), ``GRAFT_LIMIT_DATA_CATEGORIES`` (distinct values counted per column).
"""
