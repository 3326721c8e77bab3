import Logging
import Synchronization

/// A Kafka consumer for `okra-bridge tail`, replay and tests: subscribe with a group or
/// assign partitions directly, read from the earliest offset, and get each record's key,
/// value, headers, partition and offset.
///
/// librdkafka's blocking poll runs on the consumer's own queue, never on Swift's cooperative
/// pool. Call ``close()`` when done.
public final class KafkaConsumer: Sendable {
    private let client: RDKafkaClient
    private let logger: Logger
    private let closed = Atomic<Bool>(false)

    /// Creates a consumer.
    /// - Throws: ``KafkaError/Code/configuration`` naming the property librdkafka rejected.
    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws(KafkaError) {
        self.logger = logger
        self.client = try RDKafkaClient(kind: .consumer, properties: configuration.librdkafkaProperties, logger: logger)
        client.routeEventsToConsumerQueue()
    }

    /// Joins the consumer group and subscribes to `topics`.
    public func subscribe(topics: [String]) throws(KafkaError) {
        try client.subscribe(topics: topics)
    }

    /// Reads `partitions` of `topic` from their first offset, without a consumer group.
    public func assign(topic: String, partitions: [Int32]) throws(KafkaError) {
        try client.assign(topic: topic, partitions: partitions)
    }

    /// Reads every partition of `topic` from its first offset, without a consumer group.
    /// - Throws: ``KafkaError/Code/topic`` when the topic does not exist.
    public func assignAllPartitions(of topic: String, timeout: Duration = .seconds(10)) async throws(KafkaError) {
        let client = self.client
        let result: Result<[Int32]?, KafkaError> = await client.blocking {
            Result { () throws(KafkaError) in try client.partitions(of: topic, timeout: timeout) }
        }
        guard let partitions = try result.get() else {
            throw KafkaError(.topic, "topic '\(topic)' does not exist", isRetriable: true)
        }
        try assign(topic: topic, partitions: partitions)
    }

    /// Waits up to `timeout` for the first record, then takes whatever else is ready
    /// without waiting, up to `maxRecords`. An empty array means nothing arrived in time.
    /// - Throws: a fatal consumer error; transient ones are logged and skipped.
    public func poll(maxRecords: Int = 1000, timeout: Duration) async throws(KafkaError) -> [KafkaConsumerRecord] {
        guard !closed.load(ordering: .acquiring) else {
            throw KafkaError(.shutdown, "the consumer is closed", isRetriable: false)
        }
        let client = self.client
        let logger = self.logger
        let result = await client.blocking { client.consume(maxRecords: maxRecords, timeout: timeout, logger: logger) }
        return try result.get()
    }

    /// Leaves the group (if any) and releases the consumer. Idempotent.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let client = self.client
        await client.blocking { client.closeConsumer() }
    }
}
