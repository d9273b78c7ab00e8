"""The `trace` command line: thin click wrappers over trace_core."""
