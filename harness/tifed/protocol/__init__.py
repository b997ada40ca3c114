"""The harness's side of firmware/protocol/PROTOCOL.md."""
