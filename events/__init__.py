"""The event contract: envelope, entities, commands, stream names, codec and upcasters (msgspec and stdlib only)."""
