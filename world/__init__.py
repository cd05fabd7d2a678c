"""Agora world server: protocol, simulation, spaces, persistence and networking."""

__version__ = "0.1.0"
