"""The package version, in a module of its own so that the estimator can record it without a circular import."""

__version__ = "0.2.1.dev0"
