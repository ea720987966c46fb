-- The personal agent's conversations (POST /v1/agent/chat): one row per conversation, one per message. A message
-- keeps what the answer used (citations) and the tool calls that produced it, so a person can check an answer.
CREATE TABLE agent_conversations (
    tenant_id   text NOT NULL,
    id          text NOT NULL,
    principal   text NOT NULL,  -- who started it (an API key id or a JWT subject)
    title       text NOT NULL DEFAULT '',  -- the first question, cut
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX agent_conversations_recent ON agent_conversations (tenant_id, updated_at DESC, id DESC);

CREATE TABLE agent_messages (
    tenant_id        text NOT NULL,
    conversation_id  text NOT NULL,
    seq              integer NOT NULL,
    role             text NOT NULL CHECK (role IN ('user', 'assistant')),
    content          text NOT NULL,
    citations        jsonb NOT NULL DEFAULT '[]',
    tool_calls       jsonb NOT NULL DEFAULT '[]',  -- [{name, arguments, result_summary}]
    tokens_in        integer NOT NULL DEFAULT 0,
    tokens_out       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversation_id, seq),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES agent_conversations (tenant_id, id) ON DELETE CASCADE
);

SELECT enable_tenant_isolation(t) FROM unnest(ARRAY['agent_conversations', 'agent_messages']::regclass[]) AS t;
