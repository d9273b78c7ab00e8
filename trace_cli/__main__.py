"""`python -m trace_cli`: the `trace` command."""

from trace_cli.main import main

main()
