"""One module per `graft` command: argument parsing and rendering only."""
