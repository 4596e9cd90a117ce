"""Releases: the package archive, versions and tags, reproduction of a release, check-repro."""
