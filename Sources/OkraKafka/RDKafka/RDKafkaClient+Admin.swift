import CRDKafka

extension RDKafkaClient {
    /// Creates `topic` (blocking): nil when created, or when it exists and `ifNotExists`.
    func createTopic(_ topic: String, partitions: Int32, replicationFactor: Int32, ifNotExists: Bool, timeout: Duration) -> KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, replicationFactor, &errstr, errstr.count) else {
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return KafkaError(.admin, "cannot create topic '\(topic)': \(text)", isRetriable: false)
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.milliseconds, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.milliseconds, &errstr, errstr.count)
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
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
}
