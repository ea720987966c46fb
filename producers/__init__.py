"""Publishing onto the streams: idempotent, pipelined XADD of events and commands, and safe trimming."""
