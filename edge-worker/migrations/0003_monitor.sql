-- The scheduled self-test's memory (docs/monitoring.md): which problems it
-- found, which it already announced (one alert per incident), and where the
-- rotation through a large catalog continues. One row, JSON
-- (`edge-worker/src/monitor.rs`, `MonitorState`).
CREATE TABLE monitor_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The failure-rate check counts recent attempts by time.
CREATE INDEX download_attempts_by_time ON download_attempts (at);
