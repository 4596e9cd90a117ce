"""Online serving of a graft package: validation, prediction, the prediction log and the HTTP app.

``request`` (body bytes to JSON), ``validator`` (records against schema.json), ``v2`` (Open
Inference Protocol tensors), ``model`` (encoding and prediction), ``predlog`` (the log),
``schemas``/``routes``/``app`` (the FastAPI app) and ``server`` (uvicorn). Only ``schemas``,
``routes``, ``app`` and ``server`` import FastAPI/uvicorn at import time; ``request``,
``validator`` and ``v2`` are pure Python (plus orjson); ``model`` and ``predlog`` need numpy,
LightGBM and a database driver alone.
"""

# graft serve --log-durability (see graft.serving.predlog): answer at once and commit in the
# background, or answer once the request's row is committed. Here, so the command line can
# offer them without importing the log's dependencies.
LOG_DURABILITIES = ("async", "commit")
DEFAULT_LOG_DURABILITY = LOG_DURABILITIES[0]
# graft serve's defaults: where it listens and where its prediction log is
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_LOG_DB = "sqlite:///predictions.db"
