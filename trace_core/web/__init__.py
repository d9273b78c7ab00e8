"""The web viewer (docs/web.md): data documents, the local server, the self-contained export."""
