"""Dagster definitions of the weekly segmentation: thin wrappers around `segmentation`."""
