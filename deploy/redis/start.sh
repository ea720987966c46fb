#!/bin/sh
# redis (compose.yml): write the ACL file from this container's environment, then run Redis with it.
# One user per service, each with its own password from .env; the default (passwordless) user is off, and no user
# may run the dangerous commands (CONFIG, FLUSHALL, DEBUG, KEYS ...). A passwordless `healthcheck` user may PING only.
# Passwords never go on a command line: echo is a shell builtin, and redis-server gets only the file's path.
set -eu
umask 077
ACL=/tmp/users.acl
{
    echo "user default off"
    echo "user healthcheck on nopass -@all +ping"
    for service in gateway projector metrics commands deliveries indexer temporal_worker agents outbound notifications; do
        variable="REDIS_PASSWORD_$(echo "$service" | tr a-z A-Z)"
        eval "password=\${$variable:-}"
        if [ -z "$password" ]; then
            echo "redis: $variable is not set (.env)" >&2
            exit 1
        fi
        echo "user $service on >$password ~* &* +@all -@dangerous +info"
    done
} > "$ACL"
exec redis-server --aclfile "$ACL" "$@"
