-- Schema for the camera / alert / detection side of the service.
-- Applied on every start-up by DatabaseService.init_schema(), so every
-- statement here must be idempotent.

CREATE TABLE IF NOT EXISTS cameras (
    id          SERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    location    TEXT,
    rtsp_url    TEXT,
    status      TEXT NOT NULL DEFAULT 'inactive'
                CHECK (status IN ('active', 'inactive', 'maintenance', 'error')),
    config      JSONB NOT NULL DEFAULT '{}'::jsonb,
    tags        TEXT[] NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_cameras_status ON cameras (status);
CREATE INDEX IF NOT EXISTS idx_cameras_tags ON cameras USING gin (tags);

CREATE TABLE IF NOT EXISTS alerts (
    id               BIGSERIAL PRIMARY KEY,
    camera_id        INTEGER NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    alert_type       TEXT NOT NULL,
    severity         TEXT NOT NULL DEFAULT 'medium'
                     CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    message          TEXT NOT NULL,
    metadata         JSONB NOT NULL DEFAULT '{}'::jsonb,
    acknowledged     BOOLEAN NOT NULL DEFAULT FALSE,
    acknowledged_by  TEXT,
    acknowledged_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_alerts_camera_created
    ON alerts (camera_id, created_at DESC);
-- The dashboard only ever asks for open alerts, so keep that index small.
CREATE INDEX IF NOT EXISTS idx_alerts_unacknowledged
    ON alerts (created_at DESC) WHERE NOT acknowledged;

CREATE TABLE IF NOT EXISTS detection_records (
    id             BIGSERIAL PRIMARY KEY,
    camera_id      INTEGER NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    frame_id       BIGINT NOT NULL,
    detected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    objects        JSONB NOT NULL DEFAULT '[]'::jsonb,
    object_count   INTEGER NOT NULL DEFAULT 0 CHECK (object_count >= 0),
    confidence     NUMERIC(5, 4) CHECK (confidence BETWEEN 0 AND 1),
    processing_ms  DOUBLE PRECISION,
    UNIQUE (camera_id, frame_id)
);

CREATE INDEX IF NOT EXISTS idx_detection_records_camera_time
    ON detection_records (camera_id, detected_at DESC);

-- Keep cameras.updated_at honest without relying on every UPDATE to set it.
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS trg_cameras_updated_at ON cameras;
CREATE TRIGGER trg_cameras_updated_at
    BEFORE UPDATE ON cameras
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
