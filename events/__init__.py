"""The event contract: envelope, entities, command types, stream names, codec and upcasters (msgspec and stdlib only)."""
