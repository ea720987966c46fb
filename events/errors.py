"""One classification of failures, used everywhere work is retried: transient (the same work can succeed later) or
permanent (retrying cannot help; the input needs a fix).

Who interprets it:
- the stream runtime backs off and retries the same batch on a transient error, and bisects the batch and
  eventually dead-letters the entry on any other;
- the gateway answers 503 + Retry-After for a transient error (a provider retries), 500 for anything else;
- the command runner leaves a command pending (redelivered) on a transient error and marks it failed otherwise;
- trimming logs a transient error as a warning and tries again next interval;
- Temporal activities raise `ApplicationError(non_retryable=True)` for whatever is not transient.

`events` imports no client library (every package may import it), so errors of Redis, Postgres, Vault and HTTP
clients are recognised here by the qualified names of their classes; tests/test_errors.py raises each through the
real client, so a renamed class fails the suite instead of silently turning permanent.
"""

from __future__ import annotations


class BizosaasError(Exception):
    """Base of the platform's own errors."""


class TransientError(BizosaasError):
    """The same work can succeed later: a server is down, overloaded or full, a provider answered 429 or 5xx.
    Retry it after a back-off; never dead-letter or fail it for this."""


class PermanentError(BizosaasError):
    """Retrying the same work cannot help: the input is malformed, refused or refers to something that does not
    exist. It goes to a dead letter, fails its command, or is answered 4xx, with a message that names the fix."""


# Client-library errors that mean "the server is unreachable, restarting, or refused for load": retry later.
TRANSIENT_CLIENT_ERRORS = frozenset(
    {
        "redis.exceptions.ConnectionError",  # also BusyLoadingError (a Redis loading its AOF), a subclass
        "redis.exceptions.TimeoutError",
        "redis.exceptions.TryAgainError",
        "redis.exceptions.ClusterDownError",
        "asyncpg.exceptions._base.InterfaceError",  # "connection is closed" and its kin, which carry no SQLSTATE
        "hvac.exceptions.VaultDown",  # a sealed Vault
        "hvac.exceptions.InternalServerError",
        "hvac.exceptions.BadGateway",
        "aiohttp.client_exceptions.ClientConnectionError",  # refused, reset, DNS failure, server disconnected
    }
)

# SQLSTATE classes (Postgres, appendix A) that mean "try the transaction again": connection exception (08),
# transaction rollback (40: serialization failure, deadlock), insufficient resources (53: too many connections,
# disk full), operator intervention (57P01-57P03: admin or crash shutdown, cannot connect now)
TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later can succeed."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, (TransientError, OSError, TimeoutError)):  # sockets, DNS, timeouts (asyncio's included)
        return True
    sqlstate = getattr(exc, "sqlstate", None)  # asyncpg's PostgresError carries the server's SQLSTATE
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)
    return any(f"{cls.__module__}.{cls.__qualname__}" in TRANSIENT_CLIENT_ERRORS for cls in type(exc).__mro__)
