// `GET /admin/status`: health at a glance for the console and for people, from the same values
// as the metrics and `/readyz` (no scraping of `/metrics`).
extension AdminAPI {
    /// The bridge's state now.
    public struct Status: Codable, Sendable, Equatable {
        /// Whether `/readyz` answers 200.
        public var ready: Bool
        /// What keeps it from being ready (empty when ready).
        public var problems: [String]
        /// SHA-256 of the active routes file.
        public var routesSHA256: String
        /// Kafka's state, as `/readyz` on the admin listener says it.
        public var kafka: Kafka
        /// The outbox (absent when the store could not be read just now).
        public var outbox: Outbox?
        /// Records Kafka refused for good, kept.
        public var parked: Int
        /// The store's state and size.
        public var store: Store
        /// The data volume (absent when it cannot be read).
        public var volume: Volume?

        /// Kafka's state: `unknown`, `ok` or `failing`, with the kind and librdkafka's words.
        public struct Kafka: Codable, Sendable, Equatable {
            /// `unknown`, `ok` or `failing`.
            public var state: String
            /// The kind of failure, when failing.
            public var kind: String?
            /// librdkafka's words, when failing.
            public var reason: String?
            /// A state.
            public init(state: String, kind: String?, reason: String?) {
                self.state = state
                self.kind = kind
                self.reason = reason
            }
        }

        /// Records waiting for Kafka.
        public struct Outbox: Codable, Sendable, Equatable {
            /// Records not yet published.
            public var depth: Int
            /// The oldest one's age (0 when none waits).
            public var oldestAgeSeconds: Double
            enum CodingKeys: String, CodingKey { case depth, oldestAgeSeconds = "oldest_age_seconds" }
            /// The outbox.
            public init(depth: Int, oldestAgeSeconds: Double) {
                self.depth = depth
                self.oldestAgeSeconds = oldestAgeSeconds
            }
        }

        /// The store: accepting, full, volume full or unreadable, and its bytes.
        public struct Store: Codable, Sendable, Equatable {
            /// `accepting`, `full`, `volume full` or `unreadable`, as `/readyz` says it.
            public var state: String
            /// The file and its write-ahead log.
            public var bytes: Int
            /// The write-ahead log alone.
            public var walBytes: Int
            /// What the event log's retention counts.
            public var eventLogBytes: Int64
            enum CodingKeys: String, CodingKey { case state, bytes, walBytes = "wal_bytes", eventLogBytes = "event_log_bytes" }
            /// The store.
            public init(state: String, bytes: Int, walBytes: Int, eventLogBytes: Int64) {
                self.state = state
                self.bytes = bytes
                self.walBytes = walBytes
                self.eventLogBytes = eventLogBytes
            }
        }

        /// The data volume.
        public struct Volume: Codable, Sendable, Equatable {
            /// Bytes used on the volume.
            public var usedBytes: Int
            /// Bytes free.
            public var freeBytes: Int
            /// Whether new events are answered 503 for want of room.
            public var full: Bool
            enum CodingKeys: String, CodingKey { case usedBytes = "used_bytes", freeBytes = "free_bytes", full }
            /// The volume.
            public init(usedBytes: Int, freeBytes: Int, full: Bool) {
                self.usedBytes = usedBytes
                self.freeBytes = freeBytes
                self.full = full
            }
        }

        enum CodingKeys: String, CodingKey { case ready, problems, routesSHA256 = "routes_sha256", kafka, outbox, parked, store, volume }

        /// The answer from the readiness's parts and the store's snapshot.
        public init(ready: Bool, problems: [String], routesSHA256: String, kafka: Kafka, storeState: String, store: StoreStatus) {
            self.ready = ready
            self.problems = problems
            self.routesSHA256 = routesSHA256
            self.kafka = kafka
            outbox = store.outbox.map { Outbox(depth: $0.depth, oldestAgeSeconds: $0.oldestAgeSeconds) }
            parked = store.parked
            self.store = Store(state: storeState, bytes: store.storeBytes, walBytes: store.walBytes, eventLogBytes: store.eventLogBytes)
            volume = store.volume.map { Volume(usedBytes: $0.used, freeBytes: $0.free, full: store.volumeFull) }
        }
    }
}
