"""Switchboard's built-in tools; registered through the ``switchboard.tools`` entry points like any plugin."""
