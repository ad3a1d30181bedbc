"""The package version (read by ``ddc_tf.__version__``, the CLI and export metadata)."""

__version__ = "0.1.0"
