"""Inspection: blame, audit, export and import (docs/inspect.md)."""
