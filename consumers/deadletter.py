"""Dead letters: the implementation lives in producers.deadletters (pure Redis), so that the gateway's operator
routes, which may not import `consumers`, share it. Re-exported here for the runtime and the CLI."""

from producers.deadletters import (  # noqa: F401 - re-exports
    DEAD_FIELDS,
    DeadLetter,
    discard,
    list_dead,
    move_to_dead,
    redrive,
)
