import CRDKafka

extension RDKafkaClient {
    /// Creates `topic` (blocking): nil when created, or when it exists and `ifNotExists`.
    /// -1 for `partitions` or `replicationFactor` asks for the broker's default (KIP-464).
    func createTopic(_ topic: String, partitions: Int32, replicationFactor: Int32, config: [(String, String)],
                     ifNotExists: Bool, timeout: Duration) -> KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, partitions, replicationFactor, &errstr, errstr.count) else {
            return KafkaError(.admin, "cannot create topic '\(topic)': \(Self.text(errstr))", isRetriable: false)
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (name, value) in config {
            let err = rd_kafka_NewTopic_set_config(newTopic, name, value)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return RDKafkaError.make(err, context: "topic config \(name)") }
        }
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

    /// Every topic of the cluster with its partition count, from one all-topics metadata
    /// request (which never creates a topic, whatever `auto.create.topics.enable` says), and
    /// the ids of the brokers.
    func clusterTopics(timeout: Duration) throws(KafkaError) -> (topics: [String: Int], brokers: [Int32]) {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeout.milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw RDKafkaError.make(err, context: "all-topics metadata request")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [String: Int] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR, let name = entry.topic else { continue }
            topics[String(cString: name)] = Int(entry.partition_cnt)
        }
        let brokers = (0..<Int(metadata.pointee.broker_cnt)).map { metadata.pointee.brokers[$0].id }
        return (topics, brokers)
    }

    /// The configuration of broker `id` (DescribeConfigs): each name and value it reports.
    func brokerConfiguration(id: Int32, timeout: Duration) throws(KafkaError) -> [String: String] {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, "\(id)") else {
            throw KafkaError(.admin, "cannot describe broker \(id)", isRetriable: false)
        }
        defer { rd_kafka_ConfigResource_destroy(resource) }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.milliseconds, &errstr, errstr.count)
        var resources: [OpaquePointer?] = [resource]
        rd_kafka_DescribeConfigs(handle, &resources, 1, options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeout.milliseconds + 1000) else {
            throw KafkaError(.admin, "describing broker \(id) timed out after \(timeout)", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw RDKafkaError.make(err, context: "describing broker \(id)") }
        var count = 0
        guard let result = rd_kafka_event_DescribeConfigs_result(event),
              let described = rd_kafka_DescribeConfigs_result_resources(result, &count), count > 0, let first = described[0] else {
            throw KafkaError(.admin, "describing broker \(id): the broker returned no result", isRetriable: true)
        }
        let resourceErr = rd_kafka_ConfigResource_error(first)
        guard resourceErr == RD_KAFKA_RESP_ERR_NO_ERROR else { throw RDKafkaError.make(resourceErr, context: "describing broker \(id)") }
        var entryCount = 0
        guard let entries = rd_kafka_ConfigResource_configs(first, &entryCount) else { return [:] }
        var configuration: [String: String] = [:]
        for index in 0..<entryCount {
            guard let entry = entries[index], let name = rd_kafka_ConfigEntry_name(entry) else { continue }
            configuration[String(cString: name)] = rd_kafka_ConfigEntry_value(entry).map { String(cString: $0) } ?? ""
        }
        return configuration
    }

    /// The text librdkafka wrote into an error buffer.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
