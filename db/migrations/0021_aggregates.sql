-- Fixed read-only views the agents' `query_aggregates` tool and the personal agent read (agents/aggregates.py).
-- security_invoker: a view reads `records` with the caller's rights, so row-level security applies exactly as it
-- does to the table: no tenant set, no rows. The model never writes SQL; it picks one of these by name.

-- Orders per day and currency: what was sold. Orders that did not turn into money are left out.
CREATE VIEW agg_sales_by_day WITH (security_invoker = true) AS
SELECT tenant_id,
       (coalesce((data->>'placed_at')::timestamptz, updated_at) AT TIME ZONE 'UTC')::date AS day,
       coalesce(currency, data->>'currency', '') AS currency,
       count(*) AS orders,
       sum(coalesce(amount_minor, (data->>'total_minor')::bigint, 0)) AS revenue_minor
FROM records
WHERE kind = 'order' AND NOT deleted
  AND coalesce(status, '') NOT IN ('cancelled', 'canceled', 'refunded', 'failed', 'trash', 'voided')
GROUP BY 1, 2, 3;

-- Units and revenue per product over every order line (same order statuses as above).
CREATE VIEW agg_product_sales WITH (security_invoker = true) AS
SELECT r.tenant_id,
       coalesce(line->>'product_external_id', line->>'sku', '') AS product_external_id,
       max(line->>'name') AS name,
       coalesce(r.currency, r.data->>'currency', '') AS currency,
       count(DISTINCT r.external_id) AS orders,
       sum(coalesce((line->>'quantity')::bigint, 1)) AS units,
       sum(coalesce((line->>'total_minor')::bigint, 0)) AS revenue_minor
FROM records r
CROSS JOIN LATERAL jsonb_array_elements(coalesce(r.data->'line_items', '[]'::jsonb)) AS line
WHERE r.kind = 'order' AND NOT r.deleted
  AND coalesce(r.status, '') NOT IN ('cancelled', 'canceled', 'refunded', 'failed', 'trash', 'voided')
GROUP BY 1, 2, 4;

-- What each customer has bought: by the customer's id at the provider, else the order's email.
CREATE VIEW agg_customer_orders WITH (security_invoker = true) AS
SELECT tenant_id,
       coalesce(data->>'customer_external_id', lower(data->>'customer_email'), '') AS customer,
       max(data->>'customer_email') AS email,
       coalesce(currency, data->>'currency', '') AS currency,
       count(*) AS orders,
       sum(coalesce(amount_minor, (data->>'total_minor')::bigint, 0)) AS spent_minor,
       min(coalesce((data->>'placed_at')::timestamptz, updated_at)) AS first_order_at,
       max(coalesce((data->>'placed_at')::timestamptz, updated_at)) AS last_order_at
FROM records
WHERE kind = 'order' AND NOT deleted
  AND coalesce(status, '') NOT IN ('cancelled', 'canceled', 'refunded', 'failed', 'trash', 'voided')
GROUP BY 1, 2, 4;

-- How many records of each kind each provider holds, live and deleted.
CREATE VIEW agg_record_counts WITH (security_invoker = true) AS
SELECT tenant_id, kind, provider,
       count(*) FILTER (WHERE NOT deleted) AS live,
       count(*) FILTER (WHERE deleted) AS deleted
FROM records
GROUP BY 1, 2, 3;

-- Recurring revenue: active subscriptions' amounts brought to one month.
CREATE VIEW agg_recurring_revenue WITH (security_invoker = true) AS
SELECT tenant_id,
       coalesce(currency, data->>'currency', '') AS currency,
       count(*) AS subscriptions,
       sum(round(coalesce(amount_minor, (data->>'amount_minor')::bigint, 0) * CASE data->>'interval'
                 WHEN 'day' THEN 30.4375 WHEN 'week' THEN 4.348125 WHEN 'year' THEN 1.0 / 12 ELSE 1 END))::bigint
           AS monthly_minor
FROM records
WHERE kind = 'subscription' AND NOT deleted AND coalesce(status, '') IN ('active', 'trialing', 'past_due')
GROUP BY 1, 2;
