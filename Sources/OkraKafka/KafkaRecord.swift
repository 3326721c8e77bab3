/// One Kafka record header.
public struct KafkaHeader: Sendable, Hashable {
    /// The header's name.
    public var name: String
    /// The header's value; nil is a null value.
    public var value: [UInt8]?

    /// A header with raw bytes.
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// A header with a UTF-8 string value.
    public init(_ name: String, _ value: String) {
        self.init(name: name, value: Array(value.utf8))
    }

    /// The value as UTF-8 text, if it has one.
    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// Where the broker stored a delivered message.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The partition the message went to.
    public var partition: Int32
    /// The offset the broker assigned.
    public var offset: Int64
}

/// A record read by a ``KafkaConsumer``.
public struct KafkaConsumerRecord: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The offset within the partition.
    public var offset: Int64
    /// The key, if the record has one.
    public var key: [UInt8]?
    /// The value (empty for a null value).
    public var value: [UInt8]
    /// The headers in the order they were written.
    public var headers: [KafkaHeader]
    /// The record's timestamp in milliseconds since the epoch, if known.
    public var timestampMilliseconds: Int64?

    /// The first header with that name.
    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }
}
