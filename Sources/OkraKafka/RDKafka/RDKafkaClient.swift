import CRDKafka
import Dispatch
import Logging

/// Owns one `rd_kafka_t`: creation from properties, librdkafka's log lines routed into
/// swift-log, blocking calls kept off Swift's cooperative pool, and destruction.
final class RDKafkaClient: @unchecked Sendable {
    /// The librdkafka handle (`rd_kafka_t *`). Valid until `deinit`.
    let handle: OpaquePointer
    /// A serial queue for calls that block (flush, metadata, consumer poll, close).
    let blockingQueue: DispatchQueue
    private let logContext: Unmanaged<LogContext>

    /// What the C log callback reaches through `rd_kafka_opaque`.
    final class LogContext: Sendable {
        let logger: Logger
        /// librdkafka's `FAIL` lines (a connection failed) are written at debug level: the same
        /// failures reach the client as error events, which are counted and logged once a minute
        /// per kind (``KafkaHealth``), where librdkafka would write two lines a minute per broker.
        let failuresAreEvents: Bool
        init(logger: Logger, failuresAreEvents: Bool) {
            self.logger = logger
            self.failuresAreEvents = failuresAreEvents
        }
    }

    /// Which kind of client.
    enum Kind {
        case producer, consumer

        fileprivate var type: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    /// Creates a client of `kind` from `properties` (applied in order).
    /// - Parameter routesDeliveryReportsAndErrors: route delivery reports and errors to the main
    ///   queue as events (`rd_kafka_conf_set_events`), for a thread that serves them.
    init(
        kind: Kind,
        properties: [(String, String)],
        routesDeliveryReportsAndErrors: Bool = false,
        logger: Logger
    ) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(properties)
        let context = Unmanaged.passRetained(LogContext(logger: logger, failuresAreEvents: routesDeliveryReportsAndErrors))
        rd_kafka_conf_set_opaque(conf, context.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let context = Unmanaged<LogContext>.fromOpaque(opaque).takeUnretainedValue()
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            context.logger.log(
                level: context.failuresAreEvents && fac == "FAIL" ? .debug : RDKafkaClient.logLevel(syslog: level),
                "\(text)",
                metadata: ["librdkafka.facility": "\(fac)"],
                source: "librdkafka"
            )
        }
        if routesDeliveryReportsAndErrors {
            // Statistics come only with statistics.interval.ms set (`check` reads the producer id).
            rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_STATS))
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(kind.type, conf, &errstr, errstr.count) else {
            // On failure the conf still belongs to us.
            rd_kafka_conf_destroy(conf)
            context.release()
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(.configuration, "librdkafka refused the configuration: \(text)", isRetriable: false)
        }
        self.handle = rk
        self.logContext = context
        self.blockingQueue = DispatchQueue(label: "okra.kafka.blocking")
    }

    deinit {
        rd_kafka_destroy(handle)
        logContext.release()
    }

    /// Runs a blocking librdkafka call on this client's own queue, never on the cooperative pool.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            blockingQueue.async { continuation.resume(returning: body()) }
        }
    }

    /// The fatal error librdkafka raised on this client, if any.
    func fatalError() -> (rd_kafka_resp_err_t, String)? {
        var errstr = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return (err, String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Partition ids of `topic` from the cluster metadata, or nil when the topic is unknown.
    func partitions(of topic: String, timeout: Duration) throws(KafkaError) -> [Int32]? {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(.topic, "invalid topic name '\(topic)'", isRetriable: false)
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeout.milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw RDKafkaError.make(err, context: "metadata request for topic '\(topic)'")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { return nil }
        let entry = metadata.pointee.topics[0]
        if entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || entry.partition_cnt == 0 { return nil }
        if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw RDKafkaError.make(entry.err, context: "metadata for topic '\(topic)'")
        }
        return (0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id }.sorted()
    }

    /// Whether a metadata request for the cluster's brokers succeeds within `timeout`.
    func brokersReachable(timeout: Duration) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, timeout.milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return false }
        defer { rd_kafka_metadata_destroy(metadata) }
        return metadata.pointee.broker_cnt > 0
    }

    /// swift-log's level for a syslog level as librdkafka reports it.
    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}

extension Duration {
    /// Whole milliseconds, clamped to librdkafka's `int` timeout range.
    var milliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(ms, 0))
    }
}
