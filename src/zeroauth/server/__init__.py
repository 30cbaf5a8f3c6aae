"""Resource-server side: ASGI middleware, Protected Resource Metadata, token verification."""
