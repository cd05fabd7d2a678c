"""Agora clients: the headless bot (`client.bot`) and the load tool (`client.load`).

Clients import only `world.protocol` (the wire contract), never the server's internals.
"""
