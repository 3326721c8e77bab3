import CRDKafka
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
        self.client = try RDKafkaClient(
            type: RD_KAFKA_CONSUMER,
            properties: configuration.librdkafkaProperties,
            logger: logger
        )
        // Serve everything (errors, rebalances) from the consumer queue.
        rd_kafka_poll_set_consumer(client.handle)
    }

    /// Joins the consumer group and subscribes to `topics`.
    public func subscribe(topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, okra_rdk_partition_unassigned())
        }
        let err = rd_kafka_subscribe(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaError.make(err, context: "subscribe to \(topics)")
        }
    }

    /// Reads `partitions` of `topic` from their first offset, without a consumer group.
    public func assign(topic: String, partitions: [Int32]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            let entry = rd_kafka_topic_partition_list_add(list, topic, partition)
            entry?.pointee.offset = okra_rdk_offset_beginning()
        }
        let err = rd_kafka_assign(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaError.make(err, context: "assign partitions of '\(topic)'")
        }
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
        let result: Result<[KafkaConsumerRecord], KafkaError> = await client.blocking {
            var records: [KafkaConsumerRecord] = []
            var wait = timeout.milliseconds
            while records.count < maxRecords {
                guard let message = rd_kafka_consumer_poll(client.handle, wait) else { break }
                defer { rd_kafka_message_destroy(message) }
                wait = 0
                let err = message.pointee.err
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    records.append(Self.record(from: message))
                } else if let (code, reason) = client.fatalError() {
                    return .failure(KafkaError(.fatal, "the consumer hit a fatal error: \(reason)", isRetriable: false,
                                               librdkafkaName: String(cString: rd_kafka_err2name(code))))
                } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
                    logger.warning("Kafka consumer error: \(text)", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
                }
            }
            return .success(records)
        }
        return try result.get()
    }

    /// Leaves the group (if any) and releases the consumer. Idempotent.
    public func close() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let client = self.client
        await client.blocking { _ = rd_kafka_consumer_close(client.handle) }
    }

    private static func record(from message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerRecord {
        let m = message.pointee
        let topic = String(cString: rd_kafka_topic_name(m.rkt))
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value: [UInt8] = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaConsumerRecord(
            topic: topic,
            partition: m.partition,
            offset: m.offset,
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}
