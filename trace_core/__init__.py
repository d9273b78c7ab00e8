"""Trace: version control for the context windows of LLM agents."""
