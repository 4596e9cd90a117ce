"""The project layer: where a project keeps its files and what graft reads from them."""
