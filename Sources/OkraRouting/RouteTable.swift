import Foundation
import OkraEnvelope

/// A validated, precompiled routes file: what ``Router`` evaluates. Build one with
/// ``RouteTable/load(_:)``; it is immutable and safe to share.
public struct RouteTable: Sendable {
    /// One compiled route.
    public struct Route: Sendable {
        /// The route's name (unique in the file).
        public let name: String
        /// Its position in `routes`.
        public let index: Int
        let matcher: Matcher
        /// Where it sends: a topic template, or nil for a drop.
        let topic: TopicTemplate?
        let key: KeyChoice
        let format: RecordFormat
        /// Whether later routes are evaluated too after this one matched.
        public let continues: Bool
        /// Whether a match means "acknowledge, do not publish".
        public let drops: Bool
        /// Whether the route names product `unknown` (only such routes see unknown events).
        let namesUnknownProduct: Bool

        /// Whether every event `later` matches is certainly matched by this route too.
        func shadows(_ later: Route) -> Bool {
            // Unknown events reach only the routes that name product unknown.
            guard namesUnknownProduct || !later.namesUnknownProduct else { return false }
            return matcher.covers(later.matcher)
        }
    }

    /// The routes in evaluation order.
    public let routes: [Route]
    let defaultTopic: TopicTemplate
    let defaultKey: KeyChoice
    let defaultFormat: RecordFormat
    /// The dead-letter topic.
    public let deadLetterTopic: String
    /// SHA-256 (hex) of the file's bytes, for `/readyz` and logs.
    public let sha256: String

    /// Routes that can never match because an earlier route that stops (no `continue`, or a
    /// drop) matches every event they match: one line each, naming both. The file is valid with
    /// them; `routes check` and the reloader show them so an edit does not silently do nothing.
    public var shadowedRoutes: [String] {
        var lines: [String] = []
        for later in routes {
            guard let earlier = routes.prefix(later.index).first(where: { !$0.continues && $0.shadows(later) }) else { continue }
            lines.append("routes[\(later.index)] \"\(later.name)\" can never match: routes[\(earlier.index)] \"\(earlier.name)\" comes first, matches every event it matches and stops there")
        }
        return lines
    }

    /// Parses and validates a routes file, collecting every problem before failing.
    public static func load(_ bytes: [UInt8]) throws(RoutesFileError) -> RouteTable {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes).value
        } catch {
            throw RoutesFileError(problems: [RoutesProblem(location: "file", message: "not valid JSON at \(error)")])
        }
        var loader = Loader()
        guard let table = loader.table(from: root, sha256: SHA256.hex(bytes)), loader.problems.isEmpty else {
            throw RoutesFileError(problems: loader.problems)
        }
        return table
    }

    /// Reads and validates the routes file at `path`.
    public static func load(path: String) throws(RoutesFileError) -> RouteTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RoutesFileError(problems: [RoutesProblem(location: path, message: "cannot read the file (missing or not readable)")])
        }
        return try load(Array(data))
    }
}

/// Builds a ``RouteTable`` from JSON, recording problems instead of stopping at the first.
private struct Loader {
    var problems: [RoutesProblem] = []

    mutating func problem(_ location: String, _ message: String) {
        problems.append(RoutesProblem(location: location, message: message))
    }

    mutating func checkKeys(_ value: JSONValue, allowed: [String], at location: String) {
        guard case .object(let members) = value else { return }
        for member in members where !allowed.contains(member.key) {
            let place = location.isEmpty ? member.key : location.hasPrefix("routes[") ? "\(location): \(member.key)" : "\(location).\(member.key)"
            problem(place, "unknown key \"\(member.key)\"; allowed: \(allowed.joined(separator: ", "))")
        }
    }

    mutating func table(from root: JSONValue, sha256: String) -> RouteTable? {
        guard case .object = root else {
            problem("file", "expected a JSON object, found \(root.kindName)")
            return nil
        }
        checkKeys(root, allowed: ["version", "defaults", "deadLetter", "routes"], at: "")
        if root["version"] != .number("1") {
            problem("version", root["version"] == nil ? "missing; this bridge reads version 1" : "unsupported version \(describe(root["version"]!)); this bridge reads version 1")
        }

        var defaultTopic: TopicTemplate?
        var defaultKey = KeyChoice.record
        var defaultFormat = RecordFormat.structured
        if let defaults = root["defaults"] {
            if case .object = defaults {
                checkKeys(defaults, allowed: ["topic", "key", "format"], at: "defaults")
                defaultTopic = template(defaults["topic"], at: "defaults.topic", required: true)
                defaultKey = choice(defaults["key"], at: "defaults.key") ?? .record
                defaultFormat = choice(defaults["format"], at: "defaults.format") ?? .structured
            } else {
                problem("defaults", "expected an object, found \(defaults.kindName)")
            }
        } else {
            problem("defaults", "missing; it needs at least \"topic\"")
        }

        let deadLetter = deadLetterTopic(root["deadLetter"])
        var routes: [RouteTable.Route] = []
        if let list = root["routes"] {
            if case .array(let entries) = list {
                var names: [String: Int] = [:]
                for (index, entry) in entries.enumerated() {
                    if let route = route(entry, index: index, defaultKey: defaultKey, defaultFormat: defaultFormat, names: &names) {
                        routes.append(route)
                    }
                }
            } else {
                problem("routes", "expected an array, found \(list.kindName)")
            }
        }
        guard let defaultTopic, let deadLetter else { return nil }
        return RouteTable(routes: routes, defaultTopic: defaultTopic, defaultKey: defaultKey, defaultFormat: defaultFormat,
                          deadLetterTopic: deadLetter, sha256: sha256)
    }

    /// The `deadLetter` section's topic, or nil with the problem noted.
    mutating func deadLetterTopic(_ section: JSONValue?) -> String? {
        guard let section else {
            problem("deadLetter", "missing; it needs \"topic\"")
            return nil
        }
        guard case .object = section else {
            problem("deadLetter", "expected an object, found \(section.kindName)")
            return nil
        }
        checkKeys(section, allowed: ["topic"], at: "deadLetter")
        guard let topic = section["topic"]?.nonEmptyString else {
            problem("deadLetter.topic", "missing; a topic name is required")
            return nil
        }
        if let issue = KafkaTopicName.problem(topic) {
            problem("deadLetter.topic", "\"\(topic)\" is not a valid Kafka topic name: \(issue) (no placeholders here)")
            return nil
        }
        return topic
    }

    mutating func route(_ entry: JSONValue, index: Int, defaultKey: KeyChoice, defaultFormat: RecordFormat,
                        names: inout [String: Int]) -> RouteTable.Route? {
        var location = "routes[\(index)]"
        guard case .object = entry else {
            problem(location, "expected an object, found \(entry.kindName)")
            return nil
        }
        let name = entry["name"]?.nonEmptyString
        if let name {
            location += " \"\(name)\""
            if let earlier = names[name] {
                problem(location, "duplicate name; routes[\(earlier)] is also \"\(name)\"")
            }
            names[name] = index
        } else {
            problem(location, "\"name\" is missing; every route needs a unique name")
        }
        checkKeys(entry, allowed: ["name", "match", "topic", "key", "format", "continue", "drop"], at: location)
        let drops = flag(entry["drop"], at: "\(location): drop")
        let continues = flag(entry["continue"], at: "\(location): continue")
        if drops {
            for key in ["topic", "key", "format", "continue"] where entry[key] != nil {
                problem("\(location): \(key)", "a route with \"drop\": true publishes nothing, so \"\(key)\" has no meaning here")
            }
        }
        var matcher = Matcher()
        if let match = entry["match"] {
            if case .object(let members) = match {
                if members.isEmpty { problem("\(location): match", "empty; leave \"match\" out to match every event") }
                for member in members {
                    guard let field = Matcher.Field(rawValue: member.key) else {
                        problem("\(location): match.\(member.key)", "unknown match key; allowed: \(Matcher.Field.allCases.map(\.rawValue).joined(separator: ", "))")
                        continue
                    }
                    let values = strings(member.value, at: "\(location): match.\(member.key)")
                    for value in values {
                        if let vocabulary = field.vocabulary, !vocabulary.contains(value) {
                            problem("\(location): match.\(member.key)", "unknown \(member.key) \"\(value)\"; expected one of \(vocabulary.joined(separator: ", "))")
                        }
                        if value.contains("*") && !field.allowsGlobs {
                            problem("\(location): match.\(member.key)", "'*' globs are allowed in code and type only")
                        }
                    }
                    matcher.add(field, values)
                }
            } else {
                problem("\(location): match", "expected an object, found \(match.kindName)")
            }
        }
        let topic = drops ? nil : (entry["topic"] == nil ? nil : template(entry["topic"], at: "\(location): topic", required: true))
        let key = choice(entry["key"], at: "\(location): key") ?? defaultKey
        let format = choice(entry["format"], at: "\(location): format") ?? defaultFormat
        return RouteTable.Route(
            name: name ?? "routes[\(index)]", index: index, matcher: matcher,
            topic: topic, key: key, format: format, continues: continues, drops: drops,
            namesUnknownProduct: matcher.names(.product, OkraProduct.unknown.rawValue)
        )
    }

    mutating func template(_ value: JSONValue?, at location: String, required: Bool) -> TopicTemplate? {
        guard let value else {
            if required { problem(location, "missing") }
            return nil
        }
        guard case .string(let text) = value else {
            problem(location, "expected a string, found \(value.kindName)")
            return nil
        }
        switch TopicTemplate.parse(text) {
        case .success(let template): return template
        case .failure(let failure):
            problem(location, failure.message)
            return nil
        }
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ value: JSONValue?, at location: String) -> T? where T.RawValue == String {
        guard let value else { return nil }
        guard case .string(let text) = value, let parsed = T(rawValue: text) else {
            problem(location, "\(describe(value)) is not allowed; expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return parsed
    }

    mutating func flag(_ value: JSONValue?, at location: String) -> Bool {
        guard let value else { return false }
        guard case .bool(let flag) = value else {
            problem(location, "expected true or false, found \(value.kindName)")
            return false
        }
        return flag
    }

    mutating func strings(_ value: JSONValue, at location: String) -> [String] {
        switch value {
        case .string(let text) where !text.isEmpty:
            return [text]
        case .array(let items) where !items.isEmpty:
            var result: [String] = []
            for item in items {
                if case .string(let text) = item, !text.isEmpty { result.append(text) } else {
                    problem(location, "expected non-empty strings, found \(item.kindName)")
                }
            }
            return result
        default:
            problem(location, "expected a non-empty string or a non-empty array of strings")
            return []
        }
    }

    func describe(_ value: JSONValue) -> String {
        var bytes: [UInt8] = []
        JSONWriter.canonical(value, into: &bytes)
        return String(decoding: bytes.prefix(60), as: UTF8.self)
    }
}

/// The `match` of one route, precompiled: every given field must match.
struct Matcher: Sendable {
    enum Field: String, CaseIterable, Sendable {
        case product, outcome, env, code, bank, shape, type

        var vocabulary: [String]? {
            switch self {
            case .product: return OkraProduct.allCases.map(\.rawValue)
            case .outcome: return OkraOutcome.allCases.map(\.rawValue)
            case .env: return OkraEnvironment.allCases.map(\.rawValue)
            case .shape: return OkraShape.allCases.map(\.rawValue)
            case .code, .bank, .type: return nil
            }
        }

        var allowsGlobs: Bool { self == .code || self == .type }

        func value(of event: CanonicalEvent) -> String? {
            switch self {
            case .product: return event.product.rawValue
            case .outcome: return event.outcome.rawValue
            case .env: return event.environment.rawValue
            case .code: return event.code
            case .bank: return event.bank
            case .shape: return event.shape.rawValue
            case .type: return event.type
            }
        }
    }

    /// Per field: exact values and glob patterns (split on `*`).
    private var conditions: [(Field, Set<String>, [[Substring]])] = []

    mutating func add(_ field: Field, _ values: [String]) {
        let exact = Set(values.filter { !$0.contains("*") })
        let globs = values.filter { $0.contains("*") }.map { $0.split(separator: "*", omittingEmptySubsequences: false) }
        conditions.append((field, exact, globs))
    }

    func names(_ field: Field, _ value: String) -> Bool {
        conditions.contains { $0.0 == field && $0.1.contains(value) }
    }

    /// Whether the match names `field`.
    func constrains(_ field: Field) -> Bool { conditions.contains { $0.0 == field } }

    /// Whether every condition on `field` accepts `value`.
    func accepts(_ field: Field, _ value: String) -> Bool {
        conditions.allSatisfy { condition, exact, globs in
            condition != field || exact.contains(value) || globs.contains { Self.glob($0, matches: value) }
        }
    }

    func matches(_ event: CanonicalEvent) -> Bool {
        for (field, exact, globs) in conditions {
            guard let value = field.value(of: event) else { return false }
            if exact.contains(value) { continue }
            if globs.contains(where: { Self.glob($0, matches: value) }) { continue }
            return false
        }
        return true
    }

    /// Whether every event `other` matches, this matches too, as far as can be told from the
    /// patterns alone: each field this constrains, `other` constrains to values this accepts
    /// (an exact value this accepts, or a pattern this has too, or this has `*`).
    func covers(_ other: Matcher) -> Bool {
        conditions.allSatisfy { field, exact, globs in
            other.conditions.contains { otherField, otherExact, otherGlobs in
                otherField == field
                    && otherExact.allSatisfy { value in exact.contains(value) || globs.contains { Self.glob($0, matches: value) } }
                    && otherGlobs.allSatisfy { pattern in globs.contains { $0 == ["", ""] || $0 == pattern } }
            }
        }
    }

    /// Whether `value` matches a pattern split on `*` (each `*` any run of characters).
    static func glob(_ pieces: [Substring], matches value: String) -> Bool {
        var rest = Substring(value)
        guard let first = pieces.first, rest.hasPrefix(first) else { return false }
        rest = rest.dropFirst(first.count)
        if pieces.count == 1 { return rest.isEmpty }
        for piece in pieces.dropFirst().dropLast() {
            guard let range = rest.range(of: piece) else { return false }
            rest = rest[range.upperBound...]
        }
        let last = pieces.last!
        return rest.hasSuffix(last)
    }
}
