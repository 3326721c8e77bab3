/// Settings for a ``KafkaProducer``: typed fields for what the bridge relies on, and a
/// passthrough for any other librdkafka property (applied last, so it can override).
public struct KafkaProducerConfiguration: Sendable {
    /// `bootstrap.servers`, e.g. `"10.0.0.1:9092,10.0.0.2:9092"`. Empty leaves it unset
    /// (as with `test.mock.num.brokers`).
    public var bootstrapServers: String
    /// `client.id`.
    public var clientID: String = "okra-bridge"
    /// `enable.idempotence`: no duplicates or reordering from the producer's own retries.
    public var enableIdempotence: Bool = true
    /// `acks`: `all` waits for every in-sync replica.
    public var acks: String = "all"
    /// `message.timeout.ms`: how long librdkafka keeps trying before a delivery fails;
    /// `.zero` is librdkafka's 0, no limit (librdkafka retries in order until it is delivered or
    /// the producer is replaced).
    public var messageTimeout: Duration = .seconds(300)
    /// `linger.ms`: how long to wait to fill a batch.
    public var linger: Duration = .milliseconds(5)
    /// `message.max.bytes`: the largest message librdkafka sends (value, key and headers); a
    /// larger one is refused at enqueue (``KafkaError/Code/messageTooLarge``).
    public var maxMessageBytes: Int = 1_000_000
    /// `queue.buffering.max.messages`: the bound on messages enqueued but not yet reported.
    /// Past it, ``KafkaProducer/send(topic:key:value:headers:)`` throws ``KafkaError/Code/queueFull``.
    public var maxInFlightMessages: Int = 100_000
    /// How long past `message.timeout.ms` the oldest in-flight message may go without a
    /// delivery report before the producer declares itself stuck (a fatal error: recreate it).
    /// librdkafka 2.0.2 can retry forever when a broker lost the producer's state
    /// (`UNKNOWN_PRODUCER_ID` answered to every epoch bump), never reporting the messages.
    public var deliveryStallGrace: Duration = .seconds(30)
    /// How long shutdown waits for in-flight messages before failing their waiters.
    public var flushTimeout: Duration = .seconds(10)
    /// Any librdkafka property (`security.protocol`, `sasl.username`, `compression.type`...).
    public var properties: [String: String] = [:]

    /// A configuration for the given brokers with the defaults above.
    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    /// The values of the properties that hold secrets (passwords, keys, OAuth client secrets):
    /// what no reason, line or answer may show.
    public var secretValues: [String] {
        properties.filter { key, _ in Self.holdsSecret(key) }.map(\.value).filter { !$0.isEmpty }
    }

    /// Whether the librdkafka property `key` holds a secret (a password, a key, an OAuth client
    /// secret).
    public static func holdsSecret(_ key: String) -> Bool {
        ["password", "secret", "sasl.oauthbearer.config", "key.pem", "sasl.jaas"].contains { key.contains($0) }
    }

    /// How long the oldest in-flight message may go without a delivery report before the
    /// producer declares itself stuck: `message.timeout.ms` plus the stall grace, or the grace
    /// alone when the timeout is unlimited. It reads the same `messageTimeout` librdkafka gets.
    public var stallLimit: Duration {
        messageTimeout == .zero ? deliveryStallGrace : messageTimeout + deliveryStallGrace
    }

    /// Applies librdkafka properties given by an operator (`--kafka KEY=VALUE`). Those the
    /// bridge has typed fields for are read into them, so every timer of ours sees the same
    /// value librdkafka does; those that would weaken at-least-once delivery are refused.
    /// - Throws: ``KafkaError/Code/configuration`` naming the property and what is allowed.
    public mutating func apply(_ overrides: [String: String]) throws(KafkaError) {
        for name in overrides.keys.sorted() {
            let value = overrides[name]!
            func refuse(_ allowed: String) -> KafkaError {
                KafkaError(.configuration, "\(name)=\(value) would weaken delivery: \(allowed)", isRetriable: false)
            }
            func milliseconds() throws(KafkaError) -> Duration {
                guard let number = Int(value), number >= 0 else {
                    throw KafkaError(.configuration, "\(name) takes milliseconds (0 or more), got \(value)", isRetriable: false)
                }
                return .milliseconds(number)
            }
            switch name {
            case "acks", "request.required.acks":
                guard value == "all" || value == "-1" else { throw refuse("the bridge needs acks=all (or -1), so every in-sync replica has a record before it counts as delivered") }
                acks = "all"
            case "enable.idempotence":
                guard value == "true" else { throw refuse("the bridge needs enable.idempotence=true: without it retries can duplicate and reorder records") }
                enableIdempotence = true
            case "max.in.flight.requests.per.connection", "max.in.flight":
                guard let number = Int(value), (1...5).contains(number) else { throw refuse("the idempotent producer keeps order with at most 5 requests in flight per connection") }
                properties[name] = value
            case "message.timeout.ms", "delivery.timeout.ms":
                messageTimeout = try milliseconds()
            case "linger.ms", "queue.buffering.max.ms":
                linger = try milliseconds()
            case "message.max.bytes":
                guard let number = Int(value), number >= 1000 else {
                    throw KafkaError(.configuration, "\(name) takes a number of bytes (1000 or more), got \(value)", isRetriable: false)
                }
                maxMessageBytes = number
            case "queue.buffering.max.messages":
                guard let number = Int(value), number > 0 else {
                    throw KafkaError(.configuration, "\(name) takes a positive number, got \(value)", isRetriable: false)
                }
                maxInFlightMessages = number
            case "bootstrap.servers", "metadata.broker.list":
                bootstrapServers = value
            case "client.id":
                clientID = value
            default:
                properties[name] = value
            }
        }
    }

    /// The librdkafka properties in the order they are applied.
    var librdkafkaProperties: [(String, String)] {
        var list: [(String, String)] = []
        if !bootstrapServers.isEmpty { list.append(("bootstrap.servers", bootstrapServers)) }
        list.append(("client.id", clientID))
        list.append(("enable.idempotence", enableIdempotence ? "true" : "false"))
        list.append(("acks", acks))
        list.append(("message.timeout.ms", String(messageTimeout.milliseconds)))
        list.append(("linger.ms", String(linger.milliseconds)))
        list.append(("queue.buffering.max.messages", String(maxInFlightMessages)))
        list.append(("message.max.bytes", String(maxMessageBytes)))
        for key in properties.keys.sorted() { list.append((key, properties[key]!)) }
        return list
    }
}

/// Settings for a ``KafkaConsumer``.
public struct KafkaConsumerConfiguration: Sendable {
    /// `bootstrap.servers`. Empty leaves it unset.
    public var bootstrapServers: String
    /// `group.id`; required by ``KafkaConsumer/subscribe(topics:)``, optional for assignment.
    public var groupID: String?
    /// `client.id`.
    public var clientID: String = "okra-bridge-consumer"
    /// `session.timeout.ms`. Tansu's join waits half of it, so tests use 2 s.
    public var sessionTimeout: Duration = .seconds(10)
    /// `heartbeat.interval.ms`.
    public var heartbeatInterval: Duration = .seconds(3)
    /// `auto.offset.reset` for subscriptions without a committed offset.
    public var startFromBeginning: Bool = true
    /// Any librdkafka property, applied last.
    public var properties: [String: String] = [:]

    /// A configuration for the given brokers.
    public init(bootstrapServers: String, groupID: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    var librdkafkaProperties: [(String, String)] {
        var list: [(String, String)] = []
        if !bootstrapServers.isEmpty { list.append(("bootstrap.servers", bootstrapServers)) }
        list.append(("client.id", clientID))
        // librdkafka requires a group id for a consumer handle even when only assigning.
        list.append(("group.id", groupID ?? "okra-bridge-assign-only"))
        list.append(("enable.auto.commit", groupID == nil ? "false" : "true"))
        list.append(("session.timeout.ms", String(sessionTimeout.milliseconds)))
        list.append(("heartbeat.interval.ms", String(heartbeatInterval.milliseconds)))
        list.append(("auto.offset.reset", startFromBeginning ? "earliest" : "latest"))
        list.append(("enable.partition.eof", "false"))
        for key in properties.keys.sorted() { list.append((key, properties[key]!)) }
        return list
    }
}
