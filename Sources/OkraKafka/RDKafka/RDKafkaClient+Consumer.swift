import CRDKafka
import Logging

extension RDKafkaClient {
    /// Serves every event of a consumer (errors, rebalances) from its consumer queue.
    func routeEventsToConsumerQueue() {
        rd_kafka_poll_set_consumer(handle)
    }

    /// Joins the consumer group and subscribes to `topics`.
    func subscribe(topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, okra_rdk_partition_unassigned())
        }
        let err = rd_kafka_subscribe(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaError.make(err, context: "subscribe to \(topics)")
        }
    }

    /// Reads `partitions` of `topic` from their first offset, without a consumer group.
    func assign(topic: String, partitions: [Int32]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            let entry = rd_kafka_topic_partition_list_add(list, topic, partition)
            entry?.pointee.offset = okra_rdk_offset_beginning()
        }
        let err = rd_kafka_assign(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw RDKafkaError.make(err, context: "assign partitions of '\(topic)'")
        }
    }

    /// Waits up to `timeout` for the first record, then takes what else is ready, up to
    /// `maxRecords` (blocking). Transient errors are logged and skipped; a fatal one fails.
    func consume(maxRecords: Int, timeout: Duration, logger: Logger) -> Result<[KafkaConsumerRecord], KafkaError> {
        var records: [KafkaConsumerRecord] = []
        var wait = timeout.milliseconds
        while records.count < maxRecords {
            guard let message = rd_kafka_consumer_poll(handle, wait) else { break }
            defer { rd_kafka_message_destroy(message) }
            wait = 0
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                records.append(Self.record(from: message))
            } else if let (code, reason) = fatalError() {
                return .failure(KafkaError(.fatal, "the consumer hit a fatal error: \(reason)", isRetriable: false,
                                           librdkafkaName: String(cString: rd_kafka_err2name(code))))
            } else if err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
                logger.warning("Kafka consumer error: \(text)", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            }
        }
        return .success(records)
    }

    /// Leaves the group, if any (blocking).
    func closeConsumer() {
        _ = rd_kafka_consumer_close(handle)
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
