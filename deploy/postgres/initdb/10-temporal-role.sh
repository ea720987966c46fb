#!/bin/sh
# Runs once, when the postgres volume is first initialized: Temporal's own login role. temporalio/auto-setup then
# creates and migrates its databases (temporal, temporal_visibility) with it; it owns nothing of BizOSaaS.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'pw';
SQL
