import OkraIngest

/// `--delivery durable`: an event is accepted once its records are committed to the store;
/// the publisher drains them to Kafka later.
public struct DurableSink: EventSink {
    /// The store records wait in.
    public let store: OutboxStore
    private let kafka: @Sendable () -> SinkReadiness.Kafka

    /// A sink into `store`.
    /// - Parameter kafka: the state of the publisher's connection to Kafka, for `/readyz`
    ///   (shown, never a reason to be unready: the store rides out outages).
    public init(store: OutboxStore, kafka: @escaping @Sendable () -> SinkReadiness.Kafka = { .unknown }) {
        self.store = store
        self.kafka = kafka
    }

    /// Commits the records (or recognizes a duplicate id) and returns once they are on disk.
    public func accept(_ event: RoutedEvent) async throws -> SinkAcceptance {
        try await store.accept(eventID: event.id, environment: event.environment, records: event.records, receivedAt: event.receivedAt,
                               provenance: event.provenance)
    }

    /// The commit that makes the records durable before the 200.
    public var acceptSpanName: String { "store commit" }

    /// Accepting below the store's bound, full at it, and how many records are parked; Kafka's
    /// state is shown but does not make the sink unready (outages are ridden out from the store).
    public func readiness() async -> SinkReadiness {
        let parked = await store.parkedCount
        let kafka = self.kafka()
        guard let depth = try? await store.depth() else {
            return SinkReadiness(store: .unreadable, kafka: kafka, problems: ["the store cannot be read"], parked: parked)
        }
        guard !store.volumeIsFull else {
            return SinkReadiness(store: .volumeFull, kafka: kafka, problems: ["the data volume is full"], parked: parked)
        }
        guard depth.count < store.maxPending else {
            return SinkReadiness(store: .full, kafka: kafka, problems: ["the outbox is full"], parked: parked)
        }
        return SinkReadiness(store: .accepting, kafka: kafka, parked: parked)
    }
}
