-- Tables of the bot's own features (karma, reminders, tags). Safe to run on every start.
-- Guild settings and the moderation log live in guildbot/settings.py (SQLAlchemy models).

CREATE TABLE IF NOT EXISTS members (
    guild_id      bigint      NOT NULL,
    user_id       bigint      NOT NULL,
    display_name  text        NOT NULL,
    karma         integer     NOT NULL DEFAULT 0,
    profile       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE IF NOT EXISTS karma_events (
    id           bigserial   PRIMARY KEY,
    guild_id     bigint      NOT NULL,
    giver_id     bigint      NOT NULL,
    receiver_id  bigint      NOT NULL,
    amount       integer     NOT NULL CHECK (amount <> 0 AND abs(amount) <= 5),
    reason       text,
    given_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (guild_id, receiver_id) REFERENCES members (guild_id, user_id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS karma_events_receiver ON karma_events (guild_id, receiver_id);

CREATE TABLE IF NOT EXISTS reminders (
    id            bigserial   PRIMARY KEY,
    guild_id      bigint      NOT NULL,
    user_id       bigint      NOT NULL,
    channel_id    bigint      NOT NULL,
    due_at        timestamptz NOT NULL,
    body          text        NOT NULL CHECK (length(body) BETWEEN 1 AND 500),
    series        uuid,
    delivered_at  timestamptz
);

CREATE INDEX IF NOT EXISTS reminders_pending ON reminders (due_at) WHERE delivered_at IS NULL;

CREATE TABLE IF NOT EXISTS tags (
    guild_id    bigint      NOT NULL,
    name        text        NOT NULL CHECK (name = lower(name) AND name <> '' AND length(name) <= 32),
    content     text        NOT NULL,
    owner_id    bigint      NOT NULL,
    uses        integer     NOT NULL DEFAULT 0,
    meta        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, name)
);
