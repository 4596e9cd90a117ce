"""Monitoring of a served model from its prediction log: input drift, output drift,
realised quality from user feedback, and fairness. Pure functions over numpy/pandas;
`graft.monitoring.run` assembles them into one result with alerts.

Exit status of `graft monitor`: 0 no alert, 1 an alert fired, 2 usage error, and
:data:`EXIT_NO_DATA` when the window holds no data to judge.
"""

from graft.core.errors import ExitCode

EXIT_NO_DATA = int(ExitCode.NO_DATA)
"""The window holds fewer readable predictions than ``monitor.min_window`` (none, typically:
traffic stopped or the window is wrong), so nothing was judged; distinct from 0 so a scheduled
job does not pass silently, and from 1 (an alert) and 2 (usage error)."""
