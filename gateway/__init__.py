"""The aiohttp gateway: the platform's only HTTP surface (webhooks, REST reads, commands, operator routes)."""
