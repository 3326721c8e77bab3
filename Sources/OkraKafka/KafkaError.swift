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
        /// The topic name is invalid or the topic does not exist.
        public static let topic = Code(name: "topic")
        /// Authentication or authorization failed.
        public static let authorization = Code(name: "authorization")
        /// Creating or inspecting a topic failed.
        public static let admin = Code(name: "admin")
        /// Any other broker or client error.
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
