import Logging

/// Creates topics and reads the cluster's topics and brokers (`topics`, `check`, `tail`, tests).
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    /// Creates an admin client for `bootstrapServers`; `properties` pass through to librdkafka.
    public init(bootstrapServers: String, properties: [String: String] = [:], logger: Logger) throws(KafkaError) {
        var list: [(String, String)] = []
        if !bootstrapServers.isEmpty { list.append(("bootstrap.servers", bootstrapServers)) }
        for key in properties.keys.sorted() { list.append((key, properties[key]!)) }
        self.client = try RDKafkaClient(kind: .producer, properties: list, logger: logger)
    }

    /// Creates `topic` with `partitions` partitions.
    /// - Parameters:
    ///   - partitions: -1 for the broker's default (`num.partitions`; Kafka 2.4 and later).
    ///   - replicationFactor: -1 for the broker's default (`default.replication.factor`).
    ///   - config: topic properties (`retention.ms`, `min.insync.replicas`...), in order.
    ///   - ifNotExists: when true, an existing topic is not an error.
    public func createTopic(
        _ topic: String,
        partitions: Int32,
        replicationFactor: Int32 = 1,
        config: [(String, String)] = [],
        ifNotExists: Bool = false,
        timeout: Duration = .seconds(10)
    ) async throws(KafkaError) {
        let client = self.client
        let outcome = await client.blocking {
            client.createTopic(topic, partitions: partitions, replicationFactor: replicationFactor, config: config,
                               ifNotExists: ifNotExists, timeout: timeout)
        }
        if let outcome { throw outcome }
    }

    /// Every topic of the cluster and its partition count, and the brokers' ids, from one
    /// all-topics metadata request: looking never creates a topic.
    public func clusterTopics(timeout: Duration = .seconds(10)) async throws(KafkaError) -> (topics: [String: Int], brokers: [Int32]) {
        let client = self.client
        let result: Result<(topics: [String: Int], brokers: [Int32]), KafkaError> = await client.blocking {
            Result { () throws(KafkaError) in try client.clusterTopics(timeout: timeout) }
        }
        return try result.get()
    }

    /// A broker's configuration as it reports it (DescribeConfigs), e.g.
    /// `auto.create.topics.enable`.
    public func brokerConfiguration(id: Int32, timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String: String] {
        let client = self.client
        let result: Result<[String: String], KafkaError> = await client.blocking {
            Result { () throws(KafkaError) in try client.brokerConfiguration(id: id, timeout: timeout) }
        }
        return try result.get()
    }

    /// Whether a metadata request reaches a broker within `timeout`.
    public func brokersReachable(timeout: Duration = .seconds(2)) async -> Bool {
        let client = self.client
        return await client.blocking { client.brokersReachable(timeout: timeout) }
    }

    /// The partition count of `topic`, or nil when it does not exist.
    public func partitionCount(of topic: String, timeout: Duration = .seconds(5)) async throws(KafkaError) -> Int? {
        let client = self.client
        let result: Result<[Int32]?, KafkaError> = await client.blocking {
            Result { () throws(KafkaError) in try client.partitions(of: topic, timeout: timeout) }
        }
        return try result.get()?.count
    }
}
