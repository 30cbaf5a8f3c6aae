"""``zeroauth demo``: a dev authorization server and a protected MCP server on loopback, and
the zero-config client getting in knowing only the MCP server's URL, step by step."""
