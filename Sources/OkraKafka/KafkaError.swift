/// An error from the Kafka layer: what went wrong, whether trying again can help, and where.
///
/// Two families stay apart: errors thrown when a message could not be *enqueued*
/// (``KafkaProducer/send(topic:key:value:headers:)`` throws them), and errors carried by a
/// *delivery result* when an enqueued message could not be delivered.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// A stable, matchable category of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        /// A librdkafka property name or value was rejected.
        public static let configuration = Code(name: "configuration")
        /// The local producer queue is full; retry after in-flight messages are delivered.
        public static let queueFull = Code(name: "queueFull")
        /// The message was not acknowledged within `message.timeout.ms`.
        public static let messageTimedOut = Code(name: "messageTimedOut")
        /// The broker could not be reached or the connection broke.
        public static let transport = Code(name: "transport")
        /// The producer hit a fatal error (e.g. `UNKNOWN_PRODUCER_ID` after a broker restart);
        /// it can deliver nothing more and must be recreated.
        public static let fatal = Code(name: "fatal")
        /// The client was shut down before the message was delivered.
        public static let shutdown = Code(name: "shutdown")
        /// The message is larger than the broker or client accepts.
        public static let messageTooLarge = Code(name: "messageTooLarge")
        /// The topic name is invalid.
        public static let topic = Code(name: "topic")
        /// The topic does not exist and the cluster does not create it on first use.
        public static let unknownTopic = Code(name: "unknownTopic")
        /// The cluster's ACLs refuse this client the topic (Write or Describe).
        public static let topicAuthorization = Code(name: "topicAuthorization")
        /// The TLS handshake failed (a certificate that does not verify, a wrong CA, a protocol mismatch).
        public static let tls = Code(name: "tls")
        /// SASL authentication failed (a wrong user or password, a mechanism the broker does not offer).
        public static let authentication = Code(name: "authentication")
        /// The cluster's ACLs refuse this client a cluster action (`IdempotentWrite`: InitProducerId).
        public static let clusterAuthorization = Code(name: "clusterAuthorization")
        /// Creating or inspecting a topic failed.
        public static let admin = Code(name: "admin")
        /// A passing condition of the brokers (no leader, not enough replicas, a broker
        /// restarting): retriable, shown as kind `broker`.
        public static let other = Code(name: "other")
        /// A librdkafka code the bridge does not classify: retried (it may be passing), and
        /// parked by the outbox only once it kept failing the same record for `--park-after`.
        public static let unclassified = Code(name: "unclassified")

        /// The code's name.
        public var description: String { name }
    }

    /// The category.
    public var code: Code
    /// One line saying what went wrong and, where useful, what to do.
    public var reason: String
    /// True when the same message may succeed if sent again (for ``Code/fatal``, with a new producer).
    public var isRetriable: Bool
    /// librdkafka's own error name (e.g. `_MSG_TIMED_OUT`), when the error came from it.
    public var librdkafkaName: String?
    /// The kind of Kafka failure for metrics, `/readyz` and the log (nil for errors of the bridge's
    /// own making: configuration, a full local queue, shutdown): the code's, or ``cause`` when set.
    public var kind: KafkaErrorKind? { cause ?? KafkaErrorKind(code) }
    /// The failure behind this error when the code alone hides it: a fatal error caused by an
    /// ACL refusing InitProducerId is `fatal` by code and `cluster_authorization` by cause.
    public var cause: KafkaErrorKind?
    /// Where the error was created.
    public var file: String
    /// Where the error was created.
    public var line: Int

    /// Creates an error.
    public init(
        _ code: Code,
        _ reason: String,
        isRetriable: Bool,
        librdkafkaName: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.reason = reason
        self.isRetriable = isRetriable
        self.librdkafkaName = librdkafkaName
        self.file = file
        self.line = line
    }

    /// The code, the reason and librdkafka's name, in one line.
    public var description: String {
        var text = "KafkaError(\(code)): \(reason)"
        if let librdkafkaName { text += " [\(librdkafkaName)]" }
        return text
    }
}

/// The kinds of Kafka failure an operator tells apart: the `kind` label of
/// `okra_bridge_kafka_errors_total`, the `kind` of `/readyz`'s `kafka`, and the parked `reason`.
///
/// Two families: failures of the **connection** (records stay pending and are retried, oldest
/// first, in order) and refusals of **one record or topic** (the record is parked and the rest
/// go on). See docs/decisions/0013-kafka-error-kinds.md.
public enum KafkaErrorKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// No broker reachable, a connection refused or broken, a name that does not resolve.
    case transport
    /// The TLS handshake failed.
    case tls
    /// SASL authentication failed.
    case authentication
    /// A cluster action refused by ACLs (InitProducerId for the idempotent producer).
    case clusterAuthorization = "cluster_authorization"
    /// No acknowledgement in time (`message.timeout.ms`, a request timeout).
    case timeout
    /// The producer hit a fatal error or stalled, and is replaced.
    case fatal
    /// A passing broker condition (no leader, not enough replicas, a broker restarting).
    case broker
    /// A code the bridge does not classify: retried, parked after `--park-after`.
    case unclassified
    /// The cluster's ACLs refuse the topic: the record is parked.
    case topicAuthorization = "topic_authorization"
    /// The topic does not exist and is not created on use: the record is parked.
    case unknownTopic = "unknown_topic"
    /// The topic name is invalid: the record is parked.
    case invalidTopic = "invalid_topic"
    /// The record is larger than the client or the topic accepts: the record is parked.
    case messageTooLarge = "message_too_large"

    /// The kind of a code, nil for codes that are not Kafka's failures.
    init?(_ code: KafkaError.Code) {
        switch code {
        case .transport: self = .transport
        case .tls: self = .tls
        case .authentication: self = .authentication
        case .clusterAuthorization: self = .clusterAuthorization
        case .messageTimedOut: self = .timeout
        case .fatal: self = .fatal
        case .other: self = .broker
        case .unclassified: self = .unclassified
        case .topicAuthorization: self = .topicAuthorization
        case .unknownTopic: self = .unknownTopic
        case .topic: self = .invalidTopic
        case .messageTooLarge: self = .messageTooLarge
        default: return nil
        }
    }

    /// True for failures of the connection, which keep records pending; false for refusals of
    /// one record or topic.
    public var isConnectionFailure: Bool {
        switch self {
        case .topicAuthorization, .unknownTopic, .invalidTopic, .messageTooLarge: false
        default: true
        }
    }

    /// The label value.
    public var description: String { rawValue }
}
