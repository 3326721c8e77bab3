import OkraEnvelope

/// One topic a route table can send records to, and what can send them there.
public struct PlannedTopic: Sendable, Equatable {
    /// What sends records to the topic: events of one environment, product and outcome, through
    /// a route or the defaults, or the dead letters.
    public struct Source: Sendable, Equatable, CustomStringConvertible {
        /// The events' environment (nil for the dead letters, which have none).
        public var environment: OkraEnvironment?
        /// Their product.
        public var product: OkraProduct?
        /// Their outcome.
        public var outcome: OkraOutcome?
        /// The route that sends them (`defaults` or `deadLetter` when no route does).
        public var route: String
        /// True when the route matches on `code` or `bank`, so only some of these events come.
        public var onlySome: Bool
        /// How the records carry the event (nil for dead letters: the raw body).
        public var format: RecordFormat?
        /// What the records' key is (nil for dead letters: the event id when one was made).
        public var key: KeyChoice?

        /// `production payment.failed (route payment-problems, some)`.
        public var description: String {
            guard let environment, let product, let outcome else { return "dead letters (\(route))" }
            return "\(environment) \(product).\(outcome) (\(route)\(onlySome ? ", some" : ""))"
        }
    }

    /// The topic's name.
    public var name: String
    /// What sends records there, in the order found.
    public var sources: [Source]
}

/// The concrete topics a route table can produce: each environment given, times each (product,
/// outcome) pair the normalizer can emit (``OkraVocabulary/outcomesByProduct``), through the
/// routes in order as ``Router`` applies them, plus the dead-letter topic.
///
/// It is exact for every match key but two: a route that matches on `code` or `bank` may or may
/// not match an event, so its topics are planned and the routes after it are tried too (the
/// plan over-approximates; it never misses a topic). A `drop` route that surely matches sends
/// nothing and ends the evaluation.
public enum TopicPlanner {
    /// The planned topics, sorted by name.
    public static func plan(_ table: RouteTable, environments: [OkraEnvironment]) -> [PlannedTopic] {
        var topics: [String: [PlannedTopic.Source]] = [:]
        var order: [String] = []
        func add(_ topic: String, _ source: PlannedTopic.Source) {
            if topics[topic] == nil { order.append(topic) }
            if topics[topic]?.contains(source) != true { topics[topic, default: []].append(source) }
        }
        add(table.deadLetterTopic, PlannedTopic.Source(environment: nil, product: nil, outcome: nil, route: "deadLetter", onlySome: false,
                                                       format: nil, key: nil))
        for environment in environments {
            for (product, outcomes) in OkraVocabulary.outcomesByProduct {
                for outcome in outcomes {
                    for shape in OkraShape.possible(product: product, outcome: outcome) {
                        let event = PossibleEvent(environment: environment, product: product, outcome: outcome, shape: shape)
                        for destination in destinations(of: event, table: table) {
                            add(destination.topic, PlannedTopic.Source(environment: environment, product: product, outcome: outcome, route: destination.route,
                                                                       onlySome: destination.onlySome, format: destination.format, key: destination.key))
                        }
                    }
                }
            }
        }
        return order.sorted().map { PlannedTopic(name: $0, sources: topics[$0]!) }
    }

    /// Where routing can send an event of this kind: each topic, the route, and whether only
    /// some such events go there.
    static func destinations(of event: PossibleEvent, table: RouteTable) -> [Destination] {
        var found: [Destination] = []
        var uncertain = false
        let unknownProduct = event.product == .unknown
        for route in table.routes {
            guard !unknownProduct || route.namesUnknownProduct else { continue }
            let match = route.matcher.possiblyMatches(event)
            guard match != .no else { continue }
            let surely = match == .yes
            if route.drops {
                if surely { return found }
                continue
            }
            let topic = (route.topic ?? table.defaultTopic).expand(env: event.environment, product: event.product, outcome: event.outcome)
            found.append(Destination(topic: topic, route: route.name, onlySome: !surely || uncertain, format: route.format, key: route.key))
            if !route.continues {
                if surely { return found }
                uncertain = true
            }
        }
        if unknownProduct {
            found.append(Destination(topic: table.deadLetterTopic, route: "deadLetter", onlySome: uncertain, format: nil, key: nil))
        } else {
            found.append(Destination(topic: table.defaultTopic.expand(env: event.environment, product: event.product, outcome: event.outcome),
                                     route: "defaults", onlySome: uncertain, format: table.defaultFormat, key: table.defaultKey))
        }
        return found
    }

    /// Where routing can send one kind of event, and how.
    struct Destination {
        let topic: String
        let route: String
        let onlySome: Bool
        let format: RecordFormat?
        let key: KeyChoice?
    }
}

/// An event as far as the plan knows it: everything but its `code` and `bank`.
struct PossibleEvent {
    let environment: OkraEnvironment
    let product: OkraProduct
    let outcome: OkraOutcome
    let shape: OkraShape

    /// The CloudEvents `type` such an event has.
    var type: String { "okra." + product.rawValue + "." + outcome.rawValue }
}

extension Matcher {
    /// Whether a route matches an event it cannot see all of.
    enum PossibleMatch { case yes, maybe, no }

    /// `yes` when every condition holds for the event, `no` when one cannot, `maybe` when only
    /// conditions on `code` or `bank` (which the plan does not know) are left.
    func possiblyMatches(_ event: PossibleEvent) -> PossibleMatch {
        var result = PossibleMatch.yes
        for field in Field.allCases where constrains(field) {
            let value: String
            switch field {
            case .product: value = event.product.rawValue
            case .outcome: value = event.outcome.rawValue
            case .env: value = event.environment.rawValue
            case .shape: value = event.shape.rawValue
            case .type: value = event.type
            case .code, .bank:
                result = .maybe
                continue
            }
            if !accepts(field, value) { return .no }
        }
        return result
    }
}
