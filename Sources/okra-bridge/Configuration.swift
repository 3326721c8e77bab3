import Foundation

/// How accepted events reach Kafka (`--delivery`).
enum DeliveryMode: String, Sendable, CaseIterable {
    /// Committed to the local store before the 200; published by `OutboxPublisher`.
    case durable
    /// The 200 waits for Kafka's delivery report; 503 when it fails.
    case direct
}

/// One setting of a command: its flag, its `OKRA_BRIDGE_*` variable, its default, and what it
/// takes. The errors and `--help` are made from it, so a flag's name is written once.
struct Setting: Sendable {
    /// The flag without its dashes (`max-body`).
    let name: String
    /// The value when neither the flag nor the variable is given (as text), if any.
    let defaultValue: String?
    /// What it takes, for errors (`a size such as 900KiB or 1MiB`).
    let takes: String
    /// A secret: a value it refuses is never repeated.
    var secret = false

    /// `--max-body`.
    var flag: String { "--\(name)" }
    /// `OKRA_BRIDGE_MAX_BODY`.
    var variable: String { "OKRA_BRIDGE_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
}

/// Reads settings from their flags, else their variables (the contract's §7): a value that does
/// not parse is a ``UsageError`` naming the flag or the variable it came from. An empty flag
/// value is refused; an empty variable is as good as unset (a manifest's blank line).
struct SettingsReader {
    let environment: [String: String]

    /// The process's environment.
    init(_ environment: [String: String] = ProcessInfo.processInfo.environment) { self.environment = environment }

    /// The text given for `setting` and where it came from, or nil when neither is set.
    func text(_ setting: Setting, _ option: String?) throws(UsageError) -> (text: String, source: String)? {
        if let option {
            guard !option.isEmpty else { throw UsageError("\(setting.flag) takes \(setting.takes), got an empty value") }
            return (option, setting.flag)
        }
        guard let text = environment[setting.variable], !text.isEmpty else { return nil }
        return (text, "\(setting.variable) (\(setting.flag))")
    }

    /// The value given for `setting`, parsed by `parse` (nil: refused), or nil when not given.
    func value<T>(_ setting: Setting, _ option: String?, _ parse: (String) -> T?) throws(UsageError) -> T? {
        guard let (text, source) = try text(setting, option) else { return nil }
        guard let value = parse(text) else {
            throw UsageError("\(source) takes \(setting.takes), got \(setting.secret ? "a value that is not shown" : text)")
        }
        return value
    }

    /// The value given for `setting`, else its default, parsed by `parse`.
    func value<T>(_ setting: Setting, _ option: String?, default fallback: T, _ parse: (String) -> T?) throws(UsageError) -> T {
        try value(setting, option, parse) ?? fallback
    }

    /// A repeatable setting: the flag's values, else the variable's comma-separated list.
    func list(_ setting: Setting, _ options: [String]) throws(UsageError) -> [String] {
        if !options.isEmpty {
            if options.contains(where: \.isEmpty) { throw UsageError("\(setting.flag) takes \(setting.takes), got an empty value") }
            return options
        }
        return (environment[setting.variable] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A switch: the flag, else the variable (`true` or `false`).
    func flag(_ setting: Setting, _ option: Bool) throws(UsageError) -> Bool {
        if option { return true }
        guard let text = environment[setting.variable], !text.isEmpty else { return false }
        guard let value = Bool(text) else { throw UsageError("\(setting.variable) (\(setting.flag)) takes true or false, got \(text)") }
        return value
    }
}

/// Parsers of flag values: nil when the text is not one (the reader names the flag).
enum FlagValue {
    /// `host:port`, port 0 to 65535.
    static func hostPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        return (String(text[..<colon]), port)
    }

    /// A size such as `1048576`, `512KiB` or `1MiB`, at least 1 byte and at most 1 TiB.
    static func bytes(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let number = Int(text.dropLast(suffix.count)), number > 0 else { continue }
            let (product, overflow) = number.multipliedReportingOverflow(by: factor)
            return overflow || product > 1 << 40 ? nil : product
        }
        return nil
    }

    /// A duration such as `365d`, `73h`, `30m`, `90s` or `500ms`, longer than zero and at most a hundred years.
    static func duration(_ text: String) -> Duration? {
        if text.hasSuffix("ms"), let number = Int64(text.dropLast(2)), number > 0 {
            return number <= 100 * 365 * 86_400_000 ? .milliseconds(number) : nil
        }
        let units: [(String, Int64)] = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let number = Int64(text.dropLast(suffix.count)), number > 0 else { continue }
            let (seconds, overflow) = number.multipliedReportingOverflow(by: factor)
            return overflow || seconds > 100 * 365 * 86_400 ? nil : .seconds(seconds)
        }
        return nil
    }

    /// A count of at least `minimum`.
    static func count(_ text: String, minimum: Int = 1) -> Int? {
        Int(text).flatMap { $0 >= minimum ? $0 : nil }
    }

    /// `--kafka KEY=VALUE` pairs as librdkafka properties (the one parser for `serve` and `tail`);
    /// a pair without `=` is a ``UsageError``.
    static func kafkaProperties(_ pairs: [String]) throws(UsageError) -> [String: String] {
        var properties: [String: String] = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                // The text may be a secret (a value without its key, or a piece of one that held
                // a comma in OKRA_BRIDGE_KAFKA): none of it is repeated.
                throw UsageError("--kafka (or OKRA_BRIDGE_KAFKA) takes KEY=VALUE; one entry is not, \(pair.isEmpty ? "it is empty" : "it is not shown"). Put values with commas in --kafka-config")
            }
            properties[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return properties
    }

    /// `KEY=VALUE` pairs of a repeatable flag that holds no secret, in the order given.
    static func pairs(_ pairs: [String], flag: String) throws(UsageError) -> [(String, String)] {
        var result: [(String, String)] = []
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw UsageError("\(flag) takes KEY=VALUE, got \(pair.isEmpty ? "an empty value" : pair)")
            }
            result.append((String(pair[..<equals]), String(pair[pair.index(after: equals)...])))
        }
        return result
    }
}

/// Secrets and settings read from files, so they never have to be in argv or a comma list. A
/// file that is missing, unreadable or invalid is a failed run (exit 1), named with its flag.
enum SecretFile {
    /// The first line of the file (an admin token), without its line end.
    static func firstLine(_ path: String, flag: String) throws(UserError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("\(flag) \(path): cannot read the file (missing or not readable)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let value = line.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw UserError("\(flag) \(path): the file is empty") }
        return value
    }

    /// `KEY=VALUE` lines (blank lines and `#` comments ignored; the value is everything after
    /// the first `=`). A bad line is named by file and number, never by its value.
    static func properties(_ path: String, flag: String) throws(UserError) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("\(flag) \(path): cannot read the file (missing or not readable)")
        }
        var properties: [String: String] = [:]
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw UserError("\(flag) \(path):\(index + 1): expected KEY=VALUE (the value is not shown)")
            }
            properties[line[..<equals].trimmingCharacters(in: .whitespaces)] = String(line[line.index(after: equals)...])
        }
        return properties
    }
}
