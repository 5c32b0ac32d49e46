"""The gateway's surfaces: one adapter per protocol, each parsing, calling the core and framing."""
