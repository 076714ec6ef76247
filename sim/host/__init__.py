"""The host side of the system: the encoder of instructions (and, later, runtime and transports)."""
