"""Adapters to agent frameworks. Each module imports its framework lazily (optional extras)."""
