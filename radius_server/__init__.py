"""radius_server: RADIUS for coworking spaces, email plus 5-digit PIN."""

__version__ = "0.1.0"
