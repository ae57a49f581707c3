"""ispctl's engine: load desired state, compile resources, diff against live, plan, apply."""

__version__ = "0.1.0"
