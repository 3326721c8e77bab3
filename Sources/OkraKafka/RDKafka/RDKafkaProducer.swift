import CRDKafka
import Logging

/// A topic handle (`rd_kafka_topic_t *`) of one ``RDKafkaProducer``, cached by the producer
/// above and destroyed through ``RDKafkaProducer/destroy(_:)``.
struct RDKafkaTopic: @unchecked Sendable {
    fileprivate let handle: OpaquePointer
}

/// A librdkafka response code, carried across the boundary without its C type.
struct RDKafkaCode: Sendable, Equatable {
    fileprivate let raw: rd_kafka_resp_err_t

    /// No error.
    static let none = RDKafkaCode(raw: RD_KAFKA_RESP_ERR_NO_ERROR)
    /// `_MSG_TIMED_OUT`: not delivered within `message.timeout.ms`.
    static let messageTimedOut = RDKafkaCode(raw: RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
    /// `_PURGE_INFLIGHT`: purged while in flight (after a fatal error or at shutdown).
    static let purgedInFlight = RDKafkaCode(raw: RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
    /// `_FATAL`: the producer is in a fatal state.
    static let fatal = RDKafkaCode(raw: RD_KAFKA_RESP_ERR__FATAL)

    /// Whether it means success.
    var isSuccess: Bool { raw == RD_KAFKA_RESP_ERR_NO_ERROR }

    /// Whether this failure follows from the producer's fatal error (or its shutdown), so the
    /// fatal error itself is the better answer for its sender.
    var followsFatalError: Bool {
        let code = RDKafkaError.classify(raw).0
        return code == .fatal || code == .shutdown
    }

    /// The ``KafkaError`` for this code, with librdkafka's text after `context`.
    func error(context: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        RDKafkaError.make(raw, context: context, file: file, line: line)
    }
}

/// One delivery report, as read from an event: the message's id and how it ended.
struct RDKafkaDeliveryReport: Sendable {
    /// The id the message was produced with.
    var id: UInt
    /// ``RDKafkaCode/none`` when delivered.
    var code: RDKafkaCode
    /// The partition it went to.
    var partition: Int32
    /// The offset the broker assigned.
    var offset: Int64
}

/// An event from the producer's main queue.
enum RDKafkaProducerEvent {
    /// A batch of delivery reports, in the order librdkafka gave them.
    case deliveryReports([RDKafkaDeliveryReport])
    /// An error that does not end the producer (a broker went away, a TLS handshake or SASL
    /// authentication failed): librdkafka retries the connection by itself.
    case error(KafkaError)
    /// A fatal error: the producer delivers nothing more.
    case fatal(KafkaError)
    /// librdkafka's statistics (JSON), every `statistics.interval.ms`.
    case statistics(String)
    /// Anything else.
    case other
}

/// The C side of ``KafkaProducer``: one `rd_kafka_t` of type producer with delivery reports and
/// errors routed to its main queue, topic handles, produce, flush and purge.
final class RDKafkaProducer: Sendable {
    /// The client (for blocking calls and metadata).
    let client: RDKafkaClient
    /// The main event queue (`rd_kafka_queue_t *`), destroyed by ``destroyEventQueue()``.
    nonisolated(unsafe) private let eventQueue: OpaquePointer

    /// A producer from `properties`, applied in order.
    init(properties: [(String, String)], logger: Logger) throws(KafkaError) {
        client = try RDKafkaClient(kind: .producer, properties: properties, routesDeliveryReportsAndErrors: true, logger: logger)
        eventQueue = rd_kafka_queue_get_main(client.handle)
    }

    /// A handle for `name`, or nil when librdkafka rejects the name.
    func topic(_ name: String) -> RDKafkaTopic? {
        rd_kafka_topic_new(client.handle, name, nil).map(RDKafkaTopic.init)
    }

    /// Releases a handle from ``topic(_:)``.
    func destroy(_ topic: RDKafkaTopic) {
        rd_kafka_topic_destroy(topic.handle)
    }

    /// Enqueues one message (payload and key copied); `id` comes back in its delivery report.
    /// ``RDKafkaCode/none`` when enqueued.
    func produce(_ topic: RDKafkaTopic, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], id: UInt) -> RDKafkaCode {
        let list = Self.makeHeaders(headers)
        let opaque = UnsafeMutableRawPointer(bitPattern: id)
        let err = value.withUnsafeBytes { valueBytes in
            if let key {
                return key.withUnsafeBytes { keyBytes in
                    okra_rdk_produce(client.handle, topic.handle, valueBytes.baseAddress, valueBytes.count,
                                     keyBytes.baseAddress, keyBytes.count, list, opaque)
                }
            }
            return okra_rdk_produce(client.handle, topic.handle, valueBytes.baseAddress, valueBytes.count, nil, 0, list, opaque)
        }
        // On failure the headers are still ours.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let list { rd_kafka_headers_destroy(list) }
        return RDKafkaCode(raw: err)
    }

    /// Whether a code from ``produce(_:key:value:headers:id:)`` means the producer is fatal.
    static func isFatal(_ code: RDKafkaCode) -> Bool { code == .fatal }

    /// Waits up to `timeout` for in-flight messages (blocking); returns how many are left.
    func flush(timeout: Duration) -> Int {
        _ = rd_kafka_flush(client.handle, timeout.milliseconds)
        return Int(rd_kafka_outq_len(client.handle))
    }

    /// Drops every queued and in-flight message; they come back as failed delivery reports.
    func purge(blocking: Bool) {
        var flags = RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT
        if !blocking { flags |= RD_KAFKA_PURGE_F_NON_BLOCKING }
        rd_kafka_purge(client.handle, flags)
    }

    /// Waits up to `timeoutMilliseconds` for the next event of the main queue.
    func nextEvent(timeoutMilliseconds: Int32) -> RDKafkaProducerEvent? {
        guard let event = rd_kafka_queue_poll(eventQueue, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_event_destroy(event) }
        switch rd_kafka_event_type(event) {
        case RD_KAFKA_EVENT_DR:
            var reports: [RDKafkaDeliveryReport] = []
            reports.reserveCapacity(Int(rd_kafka_event_message_count(event)))
            while let message = rd_kafka_event_message_next(event) {
                let m = message.pointee
                reports.append(RDKafkaDeliveryReport(id: UInt(bitPattern: m._private), code: RDKafkaCode(raw: m.err),
                                                     partition: m.partition, offset: m.offset))
            }
            return .deliveryReports(reports)
        case RD_KAFKA_EVENT_ERROR:
            let err = rd_kafka_event_error(event)
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "unknown error"
            guard rd_kafka_event_error_is_fatal(event) != 0 else {
                return .error(RDKafkaError.make(err, reason: text))
            }
            let (code, reason) = client.fatalError() ?? (err, text)
            var fatal = KafkaError(
                .fatal,
                "the producer hit a fatal error and must be recreated: \(reason)",
                isRetriable: true,
                librdkafkaName: String(cString: rd_kafka_err2name(code))
            )
            // A fatal error caused by the connection (an ACL refusing InitProducerId) is shown as
            // that failure, which is what an operator must fix.
            if let cause = RDKafkaError.make(code).kind, cause.isConnectionFailure, cause != .unclassified { fatal.cause = cause }
            return .fatal(fatal)
        case RD_KAFKA_EVENT_STATS:
            return .statistics(rd_kafka_event_stats(event).map { String(cString: $0) } ?? "{}")
        default:
            return .other
        }
    }

    /// Wakes a thread blocked in ``nextEvent(timeoutMilliseconds:)``.
    func wakeEventThread() {
        rd_kafka_queue_yield(eventQueue)
    }

    /// Releases the main queue; call once, after the event thread ended.
    func destroyEventQueue() {
        rd_kafka_queue_destroy(eventQueue)
    }

    private static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty, let list = rd_kafka_headers_new(headers.count) else { return nil }
        for header in headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(list, header.name, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
            }
        }
        return list
    }
}

// MARK: - Test hooks (reached from tests through @testable import only)

extension RDKafkaProducer {
    /// The bootstrap address of this handle's mock cluster (`test.mock.num.brokers`), for other
    /// clients to connect to; nil without one.
    func mockClusterBootstrapsForTesting() -> String? {
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle), let text = rd_kafka_mock_cluster_bootstraps(cluster) else { return nil }
        return String(cString: text)
    }

    /// Takes the mock cluster's broker 1 down (connections refused and closed) or up again.
    func setMockBrokerForTesting(up: Bool) -> Bool {
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle) else { return false }
        let err = up ? rd_kafka_mock_broker_set_up(cluster, 1) : rd_kafka_mock_broker_set_down(cluster, 1)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Makes librdkafka raise a fatal error as if the broker had sent `UNKNOWN_PRODUCER_ID`
    /// (librdkafka's own test hook).
    func raiseFatalErrorForTesting() {
        _ = rd_kafka_test_fatal_error(client.handle, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "raised by a test")
    }

    /// Makes the mock cluster (`test.mock.num.brokers`) answer the next `count` Produce
    /// requests with `UNKNOWN_PRODUCER_ID`, or with `TOPIC_AUTHORIZATION_FAILED` (a refusal for
    /// good) when `refusingTopic`; false without a mock cluster.
    func failNextProduceRequestsForTesting(_ count: Int, refusingTopic: Bool = false) -> Bool {
        failNextProduceRequestsForTesting(count, code: refusingTopic ? RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED.rawValue : RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID.rawValue)
    }

    /// Makes the mock cluster answer the next `count` Produce requests with the broker error `code`.
    func failNextProduceRequestsForTesting(_ count: Int, code: Int32) -> Bool {
        failNextRequestsForTesting(apiKey: 0 /* Produce */, count, code: code)
    }

    /// Makes the mock cluster answer the next `count` requests of `apiKey` (Kafka's protocol
    /// number: 22 InitProducerId, 36 SaslAuthenticate) with the broker error `code`.
    func failNextRequestsForTesting(apiKey: Int16, _ count: Int, code: Int32) -> Bool {
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle) else { return false }
        let errors = [rd_kafka_resp_err_t](repeating: rd_kafka_resp_err_t(rawValue: code), count: count)
        rd_kafka_mock_push_request_errors_array(cluster, apiKey, count, errors)
        return true
    }

    /// Clears every error pushed on the mock cluster for requests of `apiKey`.
    func clearRequestErrorsForTesting(apiKey: Int16) -> Bool {
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle) else { return false }
        rd_kafka_mock_clear_request_errors(cluster, apiKey)
        return true
    }
}
