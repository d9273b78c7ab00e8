"""The `trace` command line: thin click wrappers over trace_core."""

# the release, as pyproject.toml declares it (tests/test_cli_fast.py checks they agree): `trace
# --version` prints it without reading package metadata
__version__ = "0.1.0"
