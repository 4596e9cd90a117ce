"""Monitoring of a served model from its prediction log: input drift, output drift,
realised quality from user feedback, and fairness. Pure functions over numpy/pandas;
`graft.monitoring.run` assembles them into one result with alerts."""
