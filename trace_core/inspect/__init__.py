"""Inspection: what each agent knew and where it came from (blame, audit), and taking a history
elsewhere (export and import bundles, flat message tables); docs/inspect.md."""
