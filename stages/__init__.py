"""Pipeline stages of the reference project; each module is one `dvc.yaml` stage."""
