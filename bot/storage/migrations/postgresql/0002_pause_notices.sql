-- Digest pause notices: when a subscription was paused, and whether its owner has been told.

ALTER TABLE subscriptions ADD COLUMN paused_at DOUBLE PRECISION;
ALTER TABLE subscriptions ADD COLUMN notice TEXT CHECK (notice IN ('pending', 'sent', 'failed'));
ALTER TABLE subscriptions ADD COLUMN notice_detail TEXT;
ALTER TABLE subscriptions ADD COLUMN notice_at DOUBLE PRECISION;

CREATE INDEX subscriptions_notice_pending ON subscriptions (id) WHERE notice = 'pending';
