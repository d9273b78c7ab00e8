"""Inspection of a history: blame, audit, export and import (docs/inspect.md)."""
