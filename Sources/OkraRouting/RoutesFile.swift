import Foundation
import OkraEnvelope

/// One problem in a routes file: where it is and what is wrong.
public struct RoutesProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where: `routes[2] "payment-problems": match.product`, `defaults.topic`, `version`...
    public var location: String
    /// What is wrong and, where useful, what is allowed.
    public var message: String

    /// Where and what, in one line.
    public var description: String { "\(location): \(message)" }
}

/// A routes file that failed validation, with every problem found.
public struct RoutesFileError: Error, Sendable, CustomStringConvertible {
    /// Every problem, in file order.
    public var problems: [RoutesProblem]

    /// Every problem on one line, separated by semicolons.
    public var description: String {
        "invalid routes file (\(problems.count) problem\(problems.count == 1 ? "" : "s")): " + problems.map(\.description).joined(separator: "; ")
    }
}

/// How a record's key is chosen (`key` in routes.json).
public enum KeyChoice: String, Sendable, CaseIterable {
    case record, customer, account, id, none
}

/// How a record carries the event (`format` in routes.json).
public enum RecordFormat: String, Sendable, CaseIterable {
    /// The value is the envelope JSON.
    case structured
    /// The value is the payload; attributes travel as `ce_` headers.
    case binary
}

/// A topic name with `{env}`, `{product}` and `{outcome}` placeholders, checked at load time to
/// give a valid Kafka topic name for every value those can take.
public struct TopicTemplate: Sendable, Equatable, CustomStringConvertible {
    enum Part: Sendable, Equatable {
        case literal(String)
        case env, product, outcome
    }

    let parts: [Part]
    /// The template as written.
    public let description: String

    static let placeholders: [String: Part] = ["env": .env, "product": .product, "outcome": .outcome]

    /// Parses and checks a template; nil and a message when it is not acceptable.
    static func parse(_ text: String) -> Result<TopicTemplate, TemplateProblem> {
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            literal += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                return .failure(TemplateProblem(message: "unclosed '{' in topic template \"\(text)\""))
            }
            let name = String(rest[rest.index(after: open)..<close])
            guard let part = placeholders[name] else {
                return .failure(TemplateProblem(message: "unknown placeholder {\(name)} in topic template \"\(text)\"; only {env}, {product} and {outcome} are allowed"))
            }
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
            parts.append(part)
            rest = rest[rest.index(after: close)...]
        }
        literal += rest
        if literal.contains("}") { return .failure(TemplateProblem(message: "unmatched '}' in topic template \"\(text)\"")) }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        let template = TopicTemplate(parts: parts, description: text)
        // Every expansion must be a valid topic name.
        for env in OkraEnvironment.allCases {
            for product in OkraProduct.allCases {
                for outcome in OkraOutcome.allCases {
                    let name = template.expand(env: env, product: product, outcome: outcome)
                    if let problem = KafkaTopicName.problem(name) {
                        return .failure(TemplateProblem(message: "topic template \"\(text)\" gives an invalid Kafka topic name \"\(name)\": \(problem)"))
                    }
                }
            }
        }
        return .success(template)
    }

    /// The topic for these values (taken from the closed vocabularies, never from sender text).
    func expand(env: OkraEnvironment, product: OkraProduct, outcome: OkraOutcome) -> String {
        var name = ""
        for part in parts {
            switch part {
            case .literal(let text): name += text
            case .env: name += env.rawValue
            case .product: name += product.rawValue
            case .outcome: name += outcome.rawValue
            }
        }
        return name
    }
}

/// Why a topic template is not acceptable.
struct TemplateProblem: Error {
    let message: String
}

/// Kafka's rules for topic names.
public enum KafkaTopicName {
    /// Why `name` is not a valid Kafka topic name, or nil if it is.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "empty" }
        if name == "." || name == ".." { return "'.' and '..' are not allowed" }
        if name.utf8.count > 249 { return "longer than 249 characters" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if let bad = name.first(where: { !allowed.contains($0) }) {
            return "character '\(bad)' is not allowed (only letters, digits, '.', '_' and '-')"
        }
        return nil
    }
}
