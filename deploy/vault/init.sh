#!/bin/sh
# vault-init (compose.yml): bring Vault to the state the gateway needs, idempotently, on every `docker compose up`.
#   1. initialize it once (1 unseal key) and keep the init output on the vaultkeys volume (mode 0600)
#   2. unseal it when sealed
#   3. mount KV v2 at $KV_MOUNT, write the `bizosaas` policy (its connector secrets only under $KV_PREFIX/)
#   4. create the app's token with the id given as VAULT_TOKEN in .env (an orphan token with that policy, 10 years)
# Keeping the unseal key beside Vault suits a single host; elsewhere use auto-unseal (a `seal` stanza in vault.hcl)
# and move the key off the host after the first run. Runs with any Vault-compatible CLI: VAULT_CLI=bao works too.
# Secrets never go on a command line (any process of the host may read it in /proc): the unseal key and the app's
# token reach the CLI on stdin (`write PATH -` reads a JSON body; printf is a shell builtin), the root token by env.
set -eu
VAULT=${VAULT_CLI:-vault}
KEYS="${VAULT_KEYS_DIR:-/vault/keys}/init.txt"
MOUNT=${KV_MOUNT:-secret}
PREFIX=${KV_PREFIX:-bizosaas}
: "${APP_TOKEN:?APP_TOKEN (VAULT_TOKEN in .env) is required}"

state() {  # 0 unsealed, 2 sealed, 1 unreachable
    rc=0
    $VAULT status >/dev/null 2>&1 || rc=$?
    echo "$rc"
}

tries=0
while [ "$(state)" = 1 ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "vault-init: Vault at $VAULT_ADDR does not answer" >&2
        exit 1
    fi
    sleep 1
done

if [ ! -s "$KEYS" ]; then
    if $VAULT status 2>/dev/null | grep -Eq '^Initialized +true'; then
        echo "vault-init: Vault is initialized but $KEYS is missing: unseal it by hand (vault operator unseal)" >&2
        exit 1
    fi
    umask 077
    $VAULT operator init -key-shares=1 -key-threshold=1 > "$KEYS.tmp"
    mv "$KEYS.tmp" "$KEYS"
    echo "vault-init: initialized; unseal key and root token kept in $KEYS"
fi
UNSEAL_KEY=$(sed -n 's/^Unseal Key 1: //p' "$KEYS")
ROOT_TOKEN=$(sed -n 's/^Initial Root Token: //p' "$KEYS")

if [ "$(state)" = 2 ]; then
    printf '{"key": "%s"}' "$UNSEAL_KEY" | $VAULT write sys/unseal - >/dev/null
    echo "vault-init: unsealed"
fi
tries=0
until VAULT_TOKEN=$ROOT_TOKEN $VAULT secrets list >/dev/null 2>&1; do  # active once raft has elected itself
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "vault-init: Vault did not become active" >&2
        exit 1
    fi
    sleep 1
done

export VAULT_TOKEN="$ROOT_TOKEN"
if ! $VAULT secrets list | grep -q "^$MOUNT/ "; then
    $VAULT secrets enable -path="$MOUNT" -version=2 kv >/dev/null
    echo "vault-init: KV v2 mounted at $MOUNT/"
fi
$VAULT policy write bizosaas - >/dev/null <<POLICY
path "$MOUNT/data/$PREFIX/*" { capabilities = ["create", "read", "update", "delete"] }
path "$MOUNT/metadata/$PREFIX/*" { capabilities = ["read", "list", "delete"] }
POLICY
if ! printf '{"token": "%s"}' "$APP_TOKEN" | $VAULT write auth/token/lookup - >/dev/null 2>&1; then
    $VAULT auth tune -max-lease-ttl=87600h token/ >/dev/null
    printf '{"id": "%s", "policies": ["bizosaas"], "ttl": "87600h"}' "$APP_TOKEN" |
        $VAULT write auth/token/create-orphan - >/dev/null
    echo "vault-init: app token created (policy bizosaas)"
fi
echo "vault-init: ready"
