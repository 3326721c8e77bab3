import Foundation
import OkraIngest

/// How accepted events reach Kafka (`--delivery`).
enum DeliveryMode: String, Sendable, CaseIterable {
    /// Committed to the local store before the 200; published by `OutboxPublisher`.
    case durable
    /// The 200 waits for Kafka's delivery report; 503 when it fails.
    case direct
}

/// Parsers for flag values; each throws a ``ConfigurationError`` naming the flag.
enum FlagValue {
    /// `host:port`.
    static func hostPort(_ text: String, flag: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\(flag) takes host:port, got \(text)")
        }
        return (String(text[..<colon]), port)
    }

    /// A size such as `1048576`, `512KiB` or `1MiB`.
    static func bytes(_ text: String, flag: String) throws -> Int {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast(suffix.count)), number > 0 { return number * factor }
        }
        throw ConfigurationError("\(flag) takes a size such as 1048576, 512KiB or 1MiB, got \(text)")
    }

    /// A duration such as `73h`, `30m`, `90s` or `500ms`.
    static func duration(_ text: String, flag: String) throws -> Duration {
        if text.hasSuffix("ms"), let number = Int64(text.dropLast(2)), number > 0 { return .milliseconds(number) }
        let units: [(String, Int64)] = [("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int64(text.dropLast(suffix.count)), number > 0 {
                let (seconds, overflow) = number.multipliedReportingOverflow(by: factor)
                guard !overflow, seconds <= 100 * 365 * 86_400 else { throw ConfigurationError("\(flag) \(text) is longer than a hundred years") }
                return .seconds(seconds)
            }
        }
        throw ConfigurationError("\(flag) takes a duration such as 73h, 30m or 90s, got \(text)")
    }

    /// `--kafka KEY=VALUE` pairs as librdkafka properties (the one parser for `serve` and `tail`);
    /// a pair without `=` is a ``UsageError``.
    static func kafkaProperties(_ pairs: [String]) throws -> [String: String] {
        var properties: [String: String] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                // The value may be a secret: only the key part is repeated.
                throw UsageError("--kafka takes KEY=VALUE, got \(pair.split(separator: "=").first.map(String.init) ?? "an empty value")")
            }
            properties[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return properties
    }
}

/// Flag values with their `OKRA_BRIDGE_<FLAG>` fallbacks (the contract's §7).
struct Environment {
    private let variables: [String: String]

    /// The process's environment.
    init(_ variables: [String: String] = ProcessInfo.processInfo.environment) { self.variables = variables }

    /// The flag's value, else the variable's when it is not empty.
    func value(_ option: String?, _ name: String) -> String? {
        option ?? variables["OKRA_BRIDGE_\(name)"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A repeatable flag's values, else the variable's comma-separated list.
    func list(_ option: [String], _ name: String) -> [String] {
        guard option.isEmpty else { return option }
        return (variables["OKRA_BRIDGE_\(name)"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A count: the flag's, else the variable's, else `defaultValue`; at least `minimum`. A
    /// variable that is not a number, or a count below the minimum, is a usage error naming the
    /// flag and the variable (never the default in silence).
    func count(_ option: Int?, _ name: String, flag: String, default defaultValue: Int, minimum: Int = 1) throws -> Int {
        let count: Int
        if let option {
            count = option
        } else if let text = value(nil, name) {
            guard let parsed = Int(text) else { throw UsageError("OKRA_BRIDGE_\(name) (\(flag)) takes a count, got \(text)") }
            count = parsed
        } else {
            return defaultValue
        }
        guard count >= minimum else { throw UsageError("\(flag) (OKRA_BRIDGE_\(name)) takes a count of at least \(minimum), got \(count)") }
        return count
    }

    /// Whether a flag is set, or its variable is `true`.
    func flag(_ option: Bool, _ name: String) -> Bool {
        option || variables["OKRA_BRIDGE_\(name)"] == "true"
    }
}

/// Secrets and settings read from files, so they never have to be in argv or a comma list.
enum SecretFile {
    /// The first line of the file (an admin token), without its line end.
    static func firstLine(_ path: String, flag: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(flag) \(path): cannot read the file (missing or not readable)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let value = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw ConfigurationError("\(flag) \(path): the file is empty") }
        return value
    }

    /// `KEY=VALUE` lines (blank lines and `#` comments ignored; the value is everything after
    /// the first `=`). A bad line is named by file and number, never by its value.
    static func properties(_ path: String, flag: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(flag) \(path): cannot read the file (missing or not readable)")
        }
        var properties: [String: String] = [:]
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw ConfigurationError("\(flag) \(path):\(index + 1): expected KEY=VALUE (the value is not shown)")
            }
            properties[line[..<equals].trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: equals)...])
        }
        return properties
    }
}
