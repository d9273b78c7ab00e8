"""Read-only rendering of history for people: ref decorations (labels) and the lane layout of
`trace graph` (graph)."""
