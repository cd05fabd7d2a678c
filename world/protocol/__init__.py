"""Wire protocol v1: message catalogue, codec, validation and snapshot record layouts.

Pure: imports nothing else of the project and does no I/O.
"""

from world.protocol.errors import CLOSE, ERRORS, ProtocolError
from world.protocol.codec import decode_client, encode, decode_server
from world.protocol import messages, records

PROTOCOL_VERSION = 1

__all__ = [
    "CLOSE", "ERRORS", "ProtocolError", "decode_client", "decode_server", "encode",
    "messages", "records", "PROTOCOL_VERSION",
]
