"""Experiments as Git branches: params overrides, planning, running and listing exp/* branches."""
