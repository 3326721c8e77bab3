import CRDKafka

/// Maps librdkafka's response codes to ``KafkaError``.
enum RDKafkaError {
    /// The error for a librdkafka code, with librdkafka's own text.
    static func make(_ err: rd_kafka_resp_err_t, context: String? = nil, file: String = #fileID, line: Int = #line) -> KafkaError {
        let name = String(cString: rd_kafka_err2name(err))
        let text = String(cString: rd_kafka_err2str(err))
        let reason = context.map { "\($0): \(text)" } ?? text
        let (code, retriable) = classify(err)
        return KafkaError(code, reason, isRetriable: retriable, librdkafkaName: name, file: file, line: line)
    }

    /// The error for a code librdkafka reported with its own text (an error event's string, which
    /// names the broker and what failed, e.g. the certificate that did not verify).
    static func make(_ err: rd_kafka_resp_err_t, reason: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        var (code, retriable) = classify(err)
        if code == .transport { code = transportCause(reason) ?? code }
        return KafkaError(code, reason, isRetriable: retriable, librdkafkaName: String(cString: rd_kafka_err2name(err)), file: file, line: line)
    }

    /// The error for a code given by its number (tests name codes without the C module).
    static func make(code: Int32, reason: String?) -> KafkaError {
        let err = rd_kafka_resp_err_t(rawValue: code)
        return reason.map { make(err, reason: $0) } ?? make(err)
    }

    /// librdkafka reports some failed TLS handshakes and SASL exchanges as `_TRANSPORT`, with
    /// the connection's state in the text ("... certificate verify failed (after 2ms in state
    /// SSL_HANDSHAKE)"): the state names the cause an operator has to fix.
    static func transportCause(_ reason: String) -> KafkaError.Code? {
        if reason.contains("in state SSL_HANDSHAKE") || reason.contains("SSL routines") { return .tls }
        if reason.contains("in state AUTH_") { return .authentication }
        return nil
    }

    /// The category of a librdkafka code and whether sending again can help. A code that is not
    /// retriable means Kafka refused the message for good: the outbox parks it. A code not
    /// listed here is ``KafkaError/Code/unclassified``: retriable.
    static func classify(_ err: rd_kafka_resp_err_t) -> (KafkaError.Code, Bool) {
        switch err {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            return (.queueFull, true)
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT,
             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            return (.messageTimedOut, true)
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
             RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
            return (.transport, true)
        // Failures of the connection, not of a record: once an operator fixes the CA, the
        // password or the ACL (or the cluster comes back), every pending record goes, in order.
        case RD_KAFKA_RESP_ERR__SSL:
            return (.tls, true)
        case RD_KAFKA_RESP_ERR__AUTHENTICATION, RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
             RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM, RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
            return (.authentication, true)
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
            return (.clusterAuthorization, true)
        case RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID,
             RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH,
             RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
            // Fatal for this producer instance; a new one can send the message.
            return (.fatal, true)
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_RESP_ERR__DESTROY:
            return (.shutdown, true)
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
             RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
            return (.messageTooLarge, false)
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR__INVALID_ARG:
            return (.topic, false)
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
             RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            // Reported only once librdkafka gave up on the topic (after
            // topic.metadata.propagation.max.ms): the topic does not exist and will not be
            // created automatically. A retry cannot fix that; an operator who creates the topic can.
            return (.unknownTopic, false)
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
            return (.topicAuthorization, false)
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
             RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
             RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
            return (.other, true)
        default:
            // Not known to be permanent: parking it at once would break the key's order for
            // what may be a passing condition. Retried; the outbox parks it after --park-after.
            return (.unclassified, true)
        }
    }
}
