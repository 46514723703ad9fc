"""pmb-console: the blue/green deployment and rollback console for PM Buddy."""

__version__ = "0.1.0"
