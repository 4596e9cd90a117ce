"""Online serving of a graft package: validation, prediction, the prediction log and the HTTP app.

Only :mod:`graft.serving.app` imports FastAPI; :mod:`graft.serving.model` and
:mod:`graft.serving.predlog` need numpy, LightGBM and a database driver alone.
"""
