import OkraIngest

/// `--delivery durable`: an event is accepted once its records are committed to the store;
/// the publisher drains them to Kafka later.
public struct DurableSink: EventSink {
    /// The store records wait in.
    public let store: OutboxStore

    /// A sink into `store`.
    public init(store: OutboxStore) { self.store = store }

    /// Commits the records (or recognizes a duplicate id) and returns once they are on disk.
    public func accept(_ event: RoutedEvent) async throws -> SinkAcceptance {
        try await store.accept(eventID: event.id, environment: event.environment, records: event.records, receivedAt: event.receivedAt,
                               provenance: event.provenance)
    }

    /// Accepting below the store's bound, full at it, and how many records are parked; Kafka is
    /// not looked at (outages are ridden out from the store).
    public func readiness() async -> SinkReadiness {
        let parked = await store.parkedCount
        guard let depth = try? await store.depth() else {
            return SinkReadiness(store: .unreadable, kafka: .notChecked, problems: ["the store cannot be read"], parked: parked)
        }
        guard !store.volumeIsFull else {
            return SinkReadiness(store: .volumeFull, kafka: .notChecked, problems: ["the data volume is full"], parked: parked)
        }
        guard depth.count < store.maxPending else {
            return SinkReadiness(store: .full, kafka: .notChecked, problems: ["the outbox is full"], parked: parked)
        }
        return SinkReadiness(store: .accepting, kafka: .notChecked, parked: parked)
    }
}
