-- Digest pause notices: when a subscription was paused, and whether its owner has been told.

-- Set when a subscription is paused, cleared when it resumes.
ALTER TABLE subscriptions ADD COLUMN paused_at REAL;

-- The notice about the current pause: 'pending' until the bot has tried to tell the
-- server, then 'sent' (notice_detail says where) or 'failed' (notice_detail says why).
ALTER TABLE subscriptions ADD COLUMN notice TEXT CHECK (notice IN ('pending', 'sent', 'failed'));
ALTER TABLE subscriptions ADD COLUMN notice_detail TEXT;
ALTER TABLE subscriptions ADD COLUMN notice_at REAL;

CREATE INDEX subscriptions_notice_pending ON subscriptions (id) WHERE notice = 'pending';
