"""Merging contexts: the three-way algorithm (merge3), the stopped-operation state (state),
semantic drivers (driver), the shared machinery (machinery), merge/resolve/continue/abort (ops)
and cherry-pick/revert/rebase (replay). Import the module you need; this package imports none."""
