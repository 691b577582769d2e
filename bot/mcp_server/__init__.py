"""``POST /mcp``: the MCP endpoint for MCP clients and the bearer tokens that admit them."""
