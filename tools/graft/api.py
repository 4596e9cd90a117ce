"""graft's public API: plain functions that return results and never print.

The CLI renders what these return; tests and other programs call them directly.
"""

from __future__ import annotations
