"""The package version, in one place (`genzoo --version`, saved runs, the package metadata)."""

__version__ = "0.1.0"
