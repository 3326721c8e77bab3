import CRDKafka
import Logging

/// Creates topics and reads their partition counts (for tests, `tail` and operators).
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    /// Creates an admin client for `bootstrapServers`; `properties` pass through to librdkafka.
    public init(bootstrapServers: String, properties: [String: String] = [:], logger: Logger) throws(KafkaError) {
        var list: [(String, String)] = []
        if !bootstrapServers.isEmpty { list.append(("bootstrap.servers", bootstrapServers)) }
        for key in properties.keys.sorted() { list.append((key, properties[key]!)) }
        self.client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, properties: list, logger: logger)
    }

    /// Creates `topic` with `partitions` partitions.
    /// - Parameter ifNotExists: when true, an existing topic is not an error.
    public func createTopic(
        _ topic: String,
        partitions: Int32,
        replicationFactor: Int32 = 1,
        ifNotExists: Bool = false,
        timeout: Duration = .seconds(10)
    ) async throws(KafkaError) {
        let client = self.client
        let outcome: KafkaError? = await client.blocking {
            var errstr = [CChar](repeating: 0, count: 512)
            guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, replicationFactor, &errstr, errstr.count) else {
                let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return KafkaError(.admin, "cannot create topic '\(topic)': \(text)", isRetriable: false)
            }
            defer { rd_kafka_NewTopic_destroy(newTopic) }
            let queue = rd_kafka_queue_new(client.handle)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.milliseconds, &errstr, errstr.count)
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.milliseconds, &errstr, errstr.count)
            var topics: [OpaquePointer?] = [newTopic]
            rd_kafka_CreateTopics(client.handle, &topics, 1, options, queue)
            guard let event = rd_kafka_queue_poll(queue, timeout.milliseconds + 1000) else {
                return KafkaError(.admin, "creating topic '\(topic)' timed out after \(timeout)", isRetriable: true)
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return RDKafkaError.make(err, context: "creating topic '\(topic)'")
            }
            var count = 0
            guard let result = rd_kafka_event_CreateTopics_result(event),
                  let results = rd_kafka_CreateTopics_result_topics(result, &count), count > 0,
                  let first = results[0] else {
                return KafkaError(.admin, "creating topic '\(topic)': the broker returned no result", isRetriable: true)
            }
            let topicErr = rd_kafka_topic_result_error(first)
            if topicErr == RD_KAFKA_RESP_ERR_NO_ERROR || (ifNotExists && topicErr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                return nil
            }
            let message = rd_kafka_topic_result_error_string(first).map { String(cString: $0) }
            var error = RDKafkaError.make(topicErr, context: "creating topic '\(topic)'")
            error.code = .admin
            if let message { error.reason += " (\(message))" }
            return error
        }
        if let outcome { throw outcome }
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
