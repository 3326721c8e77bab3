import Foundation
import OkraEnvelope

/// One Kafka record the bridge will publish.
public struct RoutedRecord: Sendable, Equatable {
    /// The topic.
    public var topic: String
    /// The key (nil for `"key": "none"`).
    public var key: String?
    /// The headers, in order.
    public var headers: [(name: String, value: String)]
    /// The value bytes.
    public var value: [UInt8]
    /// The route that produced it (nil for defaults and dead letters).
    public var routeName: String?

    /// A record.
    public init(topic: String, key: String?, headers: [(name: String, value: String)], value: [UInt8], routeName: String?) {
        self.topic = topic
        self.key = key
        self.headers = headers
        self.value = value
        self.routeName = routeName
    }

    /// Equal in every field, headers compared pair by pair.
    public static func == (lhs: RoutedRecord, rhs: RoutedRecord) -> Bool {
        lhs.topic == rhs.topic && lhs.key == rhs.key && lhs.value == rhs.value && lhs.routeName == rhs.routeName
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// What routing decided for one event.
public struct RoutingDecision: Sendable {
    /// The names of the routes that matched, in order (empty when the defaults or the dead
    /// letter applied).
    public var matchedRoutes: [String]
    /// The records to publish; empty when the event is dropped.
    public var records: [RoutedRecord]
    /// Whether a `drop` route decided (acknowledge, publish nothing).
    public var dropped: Bool
    /// Whether the event went to the dead-letter topic as `unrecognized`.
    public var deadLettered: Bool
}

/// Maps canonical events to Kafka records under a ``RouteTable`` (the contract's §4 and §5).
public enum Router {
    /// Routes one event.
    ///
    /// Routes are tried in order. A matching route adds its records (or, with `drop`, decides to
    /// drop); without `continue` it ends the evaluation. When evaluation ends without such a
    /// terminal match, the defaults apply — for product `unknown`, the dead-letter topic.
    /// Routes that do not name product `unknown` never match an unknown event.
    public static func route(_ event: CanonicalEvent, table: RouteTable, receivedAt: Date) -> RoutingDecision {
        var matched: [String] = []
        var records: [RoutedRecord] = []
        let unknownProduct = event.product == .unknown
        for route in table.routes {
            guard !unknownProduct || route.namesUnknownProduct, route.matcher.matches(event) else { continue }
            matched.append(route.name)
            if route.drops {
                return RoutingDecision(matchedRoutes: matched, records: [], dropped: true, deadLettered: false)
            }
            let topic = (route.topic ?? table.defaultTopic).expand(env: event.environment, product: event.product, outcome: event.outcome)
            records.append(record(event, topic: topic, key: route.key, format: route.format, routeName: route.name))
            if !route.continues {
                return RoutingDecision(matchedRoutes: matched, records: records, dropped: false, deadLettered: false)
            }
        }
        if unknownProduct {
            records.append(deadLetter(body: event.data, reason: .unrecognized, receivedAt: receivedAt, id: event.id, topic: table.deadLetterTopic, trace: event.trace))
            return RoutingDecision(matchedRoutes: matched, records: records, dropped: false, deadLettered: true)
        }
        let topic = table.defaultTopic.expand(env: event.environment, product: event.product, outcome: event.outcome)
        records.append(record(event, topic: topic, key: table.defaultKey, format: table.defaultFormat, routeName: nil))
        return RoutingDecision(matchedRoutes: matched, records: records, dropped: false, deadLettered: false)
    }

    /// The record for `event` on `topic` with the chosen key and format.
    static func record(_ event: CanonicalEvent, topic: String, key choice: KeyChoice, format: RecordFormat, routeName: String?) -> RoutedRecord {
        var event = event
        let key = Self.key(for: event, choice: choice)
        event.partitionKey = key
        switch format {
        case .structured:
            var headers: [(String, String)] = [("content-type", "application/cloudevents+json; charset=UTF-8"), ("idempotency-key", event.id)]
            appendTrace(event.trace, to: &headers)
            return RoutedRecord(topic: topic, key: key, headers: headers, value: event.jsonBytes(), routeName: routeName)
        case .binary:
            // CloudEvents Kafka protocol binding: datacontenttype is the content-type header,
            // every other attribute present is a ce_ header.
            var headers: [(String, String)] = [("content-type", "application/json")]
            for (name, value) in event.attributes where name != "datacontenttype" {
                headers.append(("ce_\(name)", value))
            }
            // OpenTelemetry's Kafka instrumentations read the plain header, CloudEvents' binding the ce_ one.
            appendTrace(event.trace, to: &headers)
            return RoutedRecord(topic: topic, key: key, headers: headers, value: event.data, routeName: routeName)
        }
    }

    /// The W3C Trace Context headers (`traceparent`, `tracestate`) of an event that has them, so a
    /// consumer continues the trace whatever the record's format.
    static func appendTrace(_ trace: TraceContext?, to headers: inout [(String, String)]) {
        guard let trace else { return }
        headers.append(("traceparent", trace.traceParent))
        if let state = trace.traceState { headers.append(("tracestate", state)) }
    }

    /// The key a route's `key` choice gives; a missing field falls back to the id.
    public static func key(for event: CanonicalEvent, choice: KeyChoice) -> String? {
        switch choice {
        case .record: return event.record ?? event.id
        case .customer: return event.customer ?? event.id
        case .account: return event.account ?? event.id
        case .id: return event.id
        case .none: return nil
        }
    }

    /// A dead-letter record: the raw body as received, why, when, and the id if one was made.
    public static func deadLetter(body: [UInt8], reason: Rejection.Reason, receivedAt: Date, id: String?, topic: String, trace: TraceContext? = nil) -> RoutedRecord {
        var headers: [(String, String)] = [
            ("okra-bridge-reason", reason.rawValue),
            ("okra-bridge-received-at", RFC3339.milliseconds(receivedAt)),
        ]
        if let id { headers.append(("ce_id", id)) }
        appendTrace(trace, to: &headers)
        return RoutedRecord(topic: topic, key: id, headers: headers, value: body, routeName: nil)
    }

    /// The dead-letter record of a body that could not be normalized.
    public static func deadLetter(body: [UInt8], rejection: Rejection, receivedAt: Date, table: RouteTable, trace: TraceContext? = nil) -> RoutedRecord {
        deadLetter(body: body, reason: rejection.reason, receivedAt: receivedAt, id: nil, topic: table.deadLetterTopic, trace: trace)
    }
}
