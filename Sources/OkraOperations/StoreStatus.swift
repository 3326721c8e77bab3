/// What the durable store holds now: the values behind its gauges (`okra_bridge_outbox_depth`,
/// `_outbox_oldest_age_seconds`, `_parked_records`, `_store_bytes`, `_store_wal_bytes`,
/// `_event_log_bytes`, `_store_volume_*`) and behind `GET /admin/status`, read the same way for both.
public struct StoreStatus: Sendable, Equatable {
    /// Records not yet published, and the oldest one's age in seconds (0 when none waits); nil
    /// when the store could not be read just now (the other values are the process's own).
    public var outbox: (depth: Int, oldestAgeSeconds: Double)?
    /// Records Kafka refused for good, kept.
    public var parked: Int
    /// The store's file and its write-ahead log, in bytes.
    public var storeBytes: Int
    /// The write-ahead log alone.
    public var walBytes: Int
    /// What the event log's retention counts.
    public var eventLogBytes: Int64
    /// The data volume's used and free bytes (nil when it cannot be read).
    public var volume: (used: Int, free: Int)?
    /// Whether the volume is full (new events are answered 503).
    public var volumeFull: Bool

    /// A snapshot.
    public init(outbox: (depth: Int, oldestAgeSeconds: Double)?, parked: Int, storeBytes: Int, walBytes: Int, eventLogBytes: Int64,
                volume: (used: Int, free: Int)?, volumeFull: Bool) {
        self.outbox = outbox
        self.parked = parked
        self.storeBytes = storeBytes
        self.walBytes = walBytes
        self.eventLogBytes = eventLogBytes
        self.volume = volume
        self.volumeFull = volumeFull
    }

    /// Equal in every value (the volume's pair compared member by member).
    public static func == (lhs: StoreStatus, rhs: StoreStatus) -> Bool {
        lhs.outbox?.depth == rhs.outbox?.depth && lhs.outbox?.oldestAgeSeconds == rhs.outbox?.oldestAgeSeconds && lhs.parked == rhs.parked
            && lhs.storeBytes == rhs.storeBytes && lhs.walBytes == rhs.walBytes && lhs.eventLogBytes == rhs.eventLogBytes
            && lhs.volume?.used == rhs.volume?.used && lhs.volume?.free == rhs.volume?.free && lhs.volumeFull == rhs.volumeFull
    }
}
