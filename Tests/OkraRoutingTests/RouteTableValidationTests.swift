import Foundation
import OkraRouting
import Testing

/// Every validation rule, each with the message it gives.
@Suite("Routes file validation")
struct RouteTableValidationTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func problems(_ json: String) -> [String] {
        do {
            _ = try RouteTable.load(Array(json.utf8))
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let valid = #"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#

    @Test("the repository's routes.json is valid")
    func repositoryRoutesAreValid() throws {
        let table = try RouteTable.load(path: Self.repositoryRoot.appendingPathComponent("routes.json").path)
        #expect(table.routes.map(\.name) == ["drop-sandbox-widget-events", "widget-analytics", "payment-problems", "user-connections"])
        #expect(table.routes.contains { $0.drops } && table.routes.contains { $0.continues })
        #expect(table.sha256.count == 64)
        #expect(table.shadowedRoutes == [])
    }

    static func shadowed(_ routes: String) throws -> [String] {
        let json = #"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}"},"deadLetter":{"topic":"okra.deadletter"},"routes":["# + routes + "]}"
        return try RouteTable.load(Array(json.utf8)).shadowedRoutes
    }

    @Test("a route that an earlier stopping route always catches is reported; the contract's example has one")
    func shadowedRoutes() throws {
        // The contract's example order: the widget route stops before the sandbox drop.
        #expect(try Self.shadowed("""
            {"name":"payment-problems","match":{"product":"payment","outcome":["failed","cancelled"]},"topic":"okra.payments.problems","continue":true},
            {"name":"widget","match":{"product":"widget"},"topic":"okra.{env}.widget.events"},
            {"name":"no-sandbox-widget","match":{"env":"sandbox","product":"widget"},"drop":true}
            """) == [#"routes[2] "no-sandbox-widget" can never match: routes[1] "widget" comes first, matches every event it matches and stops there"#])
        // The other order, a continuing route, and narrower or different patterns are fine.
        #expect(try Self.shadowed("""
            {"name":"no-sandbox-widget","match":{"env":"sandbox","product":"widget"},"drop":true},
            {"name":"widget","match":{"product":"widget"},"topic":"okra.{env}.widget.events"}
            """) == [])
        #expect(try Self.shadowed("""
            {"name":"tap","match":{"product":"payment"},"topic":"okra.tap","continue":true},
            {"name":"payments","match":{"product":"payment","outcome":"failed"},"topic":"okra.payments"}
            """) == [])
        #expect(try Self.shadowed("""
            {"name":"payment-codes","match":{"code":"PAYMENT_*"},"topic":"okra.a"},
            {"name":"auth-codes","match":{"code":["AUTH_*","AUTH_FAILED"]},"topic":"okra.b"}
            """) == [])
        // Globs: an exact code the earlier pattern matches, the same pattern, or anything after `*`.
        #expect(try Self.shadowed("""
            {"name":"payment-codes","match":{"code":"PAYMENT_*"},"topic":"okra.a"},
            {"name":"failed-payments","match":{"code":["PAYMENT_FAILED","PAYMENT_*"],"env":"production"},"topic":"okra.b"},
            {"name":"all","match":{"type":"*"},"topic":"okra.c"},
            {"name":"one-type","match":{"type":"okra.auth.*"},"topic":"okra.d"}
            """).count == 2)
        // Unknown events reach only routes that name product unknown, so a catch-all does not hide them.
        #expect(try Self.shadowed("""
            {"name":"everything","topic":"okra.all"},
            {"name":"unknowns","match":{"product":"unknown"},"topic":"okra.unknowns"}
            """) == [])
        #expect(try Self.shadowed("""
            {"name":"everything","topic":"okra.all"},
            {"name":"payments","match":{"product":"payment"},"topic":"okra.payments"}
            """).count == 1)
    }

    @Test("a minimal file is valid")
    func minimal() {
        #expect(Self.problems(Self.valid) == [])
    }

    static let rules: [(String, String, String)] = [
        ("not JSON", #"{"version":1,"#, "file: not valid JSON at line 1"),
        ("not an object", "[]", "file: expected a JSON object"),
        ("unknown top-level key", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"rotues":[]}"#, #"rotues: unknown key "rotues""#),
        ("missing version", #"{"defaults":{"topic":"t"},"deadLetter":{"topic":"d"}}"#, "version: missing; this bridge reads version 1"),
        ("wrong version", #"{"version":2,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"}}"#, "version: unsupported version 2"),
        ("missing defaults", #"{"version":1,"deadLetter":{"topic":"d"}}"#, "defaults: missing"),
        ("missing default topic", #"{"version":1,"defaults":{},"deadLetter":{"topic":"d"}}"#, "defaults.topic: missing"),
        ("unknown key in defaults", #"{"version":1,"defaults":{"topic":"t","partitions":3},"deadLetter":{"topic":"d"}}"#, #"defaults.partitions: unknown key "partitions""#),
        ("bad default key", #"{"version":1,"defaults":{"topic":"t","key":"rec"},"deadLetter":{"topic":"d"}}"#, #"defaults.key: "rec" is not allowed; expected one of record, customer, account, id, none"#),
        ("bad default format", #"{"version":1,"defaults":{"topic":"t","format":"avro"},"deadLetter":{"topic":"d"}}"#, #"defaults.format: "avro" is not allowed; expected one of structured, binary"#),
        ("unknown placeholder", #"{"version":1,"defaults":{"topic":"okra.{record}"},"deadLetter":{"topic":"d"}}"#, "defaults.topic: unknown placeholder {record}"),
        ("unclosed brace", #"{"version":1,"defaults":{"topic":"okra.{env"},"deadLetter":{"topic":"d"}}"#, "defaults.topic: unclosed '{'"),
        ("invalid topic characters", #"{"version":1,"defaults":{"topic":"okra/{env}"},"deadLetter":{"topic":"d"}}"#, "gives an invalid Kafka topic name \"okra/production\": character '/' is not allowed"),
        ("missing dead letter", #"{"version":1,"defaults":{"topic":"t"}}"#, "deadLetter: missing"),
        ("dead letter with a placeholder", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"dl.{env}"}}"#, "deadLetter.topic: \"dl.{env}\" is not a valid Kafka topic name"),
        ("routes not an array", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":{}}"#, "routes: expected an array"),
        ("route without a name", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"topic":"x"}]}"#, #"routes[0]: "name" is missing"#),
        ("duplicate route names", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","topic":"x"},{"name":"a","topic":"y"}]}"#, #"routes[1] "a": duplicate name; routes[0] is also "a""#),
        ("unknown route key", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","topci":"x"}]}"#, #"routes[0] "a": topci: unknown key "topci""#),
        ("unknown match key", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"customer":"c"}}]}"#, #"routes[0] "a": match.customer: unknown match key"#),
        ("unknown product", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"product":"paymnt"}}]}"#, #"routes[0] "a": match.product: unknown product "paymnt""#),
        ("unknown outcome", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"outcome":["failed","faild"]}}]}"#, #"routes[0] "a": match.outcome: unknown outcome "faild""#),
        ("unknown env", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"env":"production-sandbox"}}]}"#, #"routes[0] "a": match.env: unknown env "production-sandbox""#),
        ("unknown shape", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"shape":"v2"}}]}"#, #"routes[0] "a": match.shape: unknown shape "v2""#),
        ("glob outside code and type", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"bank":"access*"}}]}"#, "'*' globs are allowed in code and type only"),
        ("empty match value", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{"code":[]}}]}"#, "match.code: expected a non-empty string or a non-empty array of strings"),
        ("empty match", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","match":{}}]}"#, #"routes[0] "a": match: empty"#),
        ("drop with a topic", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","drop":true,"topic":"x"}]}"#, #"routes[0] "a": topic: a route with "drop": true publishes nothing"#),
        ("continue not a boolean", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","continue":"yes"}]}"#, #"routes[0] "a": continue: expected true or false"#),
        ("bad route template", #"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"d"},"routes":[{"name":"a","topic":"okra.{bank}"}]}"#, #"routes[0] "a": topic: unknown placeholder {bank}"#),
    ]

    @Test("each rule gives its message", arguments: rules)
    func rule(_ name: String, _ json: String, _ expected: String) {
        let problems = Self.problems(json)
        #expect(problems.contains { $0.contains(expected) }, "\(name): got \(problems)")
    }

    @Test("every problem is reported at once, in file order")
    func collectsEveryProblem() {
        let problems = Self.problems(#"{"version":3,"defaults":{"topic":"a b"},"deadLetter":{"topic":"c d"},"routes":[{"name":"x","match":{"product":"nope"}},{"match":{"env":"prod"}}]}"#)
        let locations = problems.map { String($0.prefix { $0 != ":" }) }
        #expect(locations == ["version", "defaults.topic", "deadLetter.topic", #"routes[0] "x""#, "routes[1]", "routes[1]"], "\(problems)")
    }
}
