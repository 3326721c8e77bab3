import Foundation
import OkraEnvelope
import OkraRouting
import Testing

/// `okra-bridge topics plan`: the topics a routes file can produce, never missing one.
@Suite("Topic plan")
struct TopicPlanTests {
    static let root = RouteTableValidationTests.repositoryRoot

    static func table(_ text: String) throws -> RouteTable { try RouteTable.load(Array(text.utf8)) }

    @Test("the repository's routes.json: the defaults for every product's outcomes, the routes' own topics, sandbox widget events dropped, the dead letter")
    func repositoryRoutes() throws {
        let table = try RouteTable.load(path: Self.root.appendingPathComponent("routes.json").path)
        let plan = TopicPlanner.plan(table, environments: [.production, .sandbox])
        var expected: Set<String> = ["okra.deadletter"]
        for env in ["production", "sandbox"] {
            for (product, outcomes) in OkraVocabulary.outcomesByProduct where product != .unknown && product != .widget && product != .user {
                for outcome in outcomes { expected.insert("okra.\(env).\(product).\(outcome)") }
            }
            expected.formUnion(["okra.\(env).widget.analytics", "okra.\(env).payments.problems",
                                "okra.\(env).user.disconnected", "okra.\(env).user.reauth_required", "okra.\(env).user.unknown"])
        }
        #expect(Set(plan.map(\.name)) == expected, "\(Set(plan.map(\.name)).symmetricDifference(expected))")
        #expect(plan.count == 67)
        #expect(plan.map(\.name) == plan.map(\.name).sorted())
        // Sandbox widget events are dropped; its widget-success metadata still goes out.
        let sandboxWidget = try #require(plan.first { $0.name == "okra.sandbox.widget.analytics" })
        #expect(sandboxWidget.sources.map(\.outcome) == [.success])
        let problems = try #require(plan.first { $0.name == "okra.production.payments.problems" })
        #expect(problems.sources.map(\.description) == ["production payment.failed (payment-problems)", "production payment.cancelled (payment-problems)"])
    }

    @Test("a match on code or bank may or may not hold: its topic is planned, marked as some, and the routes after it too")
    func codeMatchesOverApproximate() throws {
        let table = try Self.table(#"""
        {"version": 1, "defaults": {"topic": "all.{env}.{product}"}, "deadLetter": {"topic": "dead"},
         "routes": [
           {"name": "gtb", "match": {"bank": "gtbank", "product": "auth"}, "topic": "gtb.auth"},
           {"name": "no-balance-deletes", "match": {"code": "BALANCE_DELETED"}, "drop": true},
           {"name": "sandbox-off", "match": {"env": "sandbox"}, "drop": true}
         ]}
        """#)
        let plan = TopicPlanner.plan(table, environments: [.production, .sandbox])
        let names = plan.map(\.name)
        #expect(names == ["all.production.accounts", "all.production.auth", "all.production.balance", "all.production.identity",
                                     "all.production.income", "all.production.payment", "all.production.record", "all.production.transactions",
                                     "all.production.user", "all.production.widget", "dead", "gtb.auth"])
        let gtb = try #require(plan.first { $0.name == "gtb.auth" })
        #expect(gtb.sources.allSatisfy { $0.onlySome })
        let auth = try #require(plan.first { $0.name == "all.production.auth" })
        #expect(auth.sources.allSatisfy { $0.onlySome }, "auth events reach the defaults only when they are not gtbank's")
        // A drop that may not match leaves the balance topic planned.
        #expect(plan.contains { $0.name == "all.production.balance" })
    }

    @Test("a route for product unknown takes unknown events from the dead letter")
    func unknownProductRoute() throws {
        let table = try Self.table(#"""
        {"version": 1, "defaults": {"topic": "t.{product}.{outcome}"}, "deadLetter": {"topic": "dead"},
         "routes": [{"name": "strangers", "match": {"product": "unknown"}, "topic": "t.strangers"}]}
        """#)
        let plan = TopicPlanner.plan(table, environments: [.production, .sandbox, .unknown])
        let strangers = try #require(plan.first { $0.name == "t.strangers" })
        #expect(Set(strangers.sources.compactMap(\.environment)) == [.production, .sandbox, .unknown])
        let dead = try #require(plan.first { $0.name == "dead" })
        #expect(dead.sources.map(\.route) == ["deadLetter"], "only bodies that are not events")
    }

    /// Routes that use every match key, globs, continue and drop.
    static let busyRoutes = #"""
    {"version": 1, "defaults": {"topic": "d.{env}.{product}.{outcome}"}, "deadLetter": {"topic": "dead"},
     "routes": [
       {"name": "v1", "match": {"shape": "callback-v1", "outcome": "failed"}, "topic": "v1.{env}.failed", "continue": true},
       {"name": "pay", "match": {"type": "okra.payment.*"}, "topic": "pay.{outcome}", "continue": true},
       {"name": "codes", "match": {"code": ["*_SUCCESS", "ERROR"], "env": "production"}, "topic": "codes.{product}"},
       {"name": "bank", "match": {"bank": "kuda"}, "topic": "bank.kuda"},
       {"name": "users", "match": {"product": "user", "outcome": ["disconnected"]}, "drop": true},
       {"name": "unknowns", "match": {"product": "unknown", "env": "sandbox"}, "topic": "u.sandbox"}
     ]}
    """#

    @Test("never misses a topic: every payload of the fixtures and of generated callbacks, in every environment, routes to planned topics only")
    func neverMisses() throws {
        for text in [Self.busyRoutes, try String(contentsOf: Self.root.appendingPathComponent("routes.json"), encoding: .utf8)] {
            let table = try Self.table(text)
            let planned = Set(TopicPlanner.plan(table, environments: [.production, .sandbox, .unknown]).map(\.name))
            var bodies: [[UInt8]] = []
            let fixtures = Self.root.appendingPathComponent("Tests/OkraEnvelopeTests/Fixtures/payloads")
            for name in try FileManager.default.contentsOfDirectory(atPath: fixtures.path) where name.hasSuffix(".json") {
                bodies.append(Array(try Data(contentsOf: fixtures.appendingPathComponent(name))))
            }
            for type in ["AUTH", "PAYMENT", "BALANCE", "TRANSACTIONS", "RECORD", "SOMETHING"] {
                for code in ["AUTH_SUCCESS", "PAYMENT_CANCELLED", "BALANCE_DELETED", "ERROR", "WEBHOOK_UPDATE_ACKNOWLEDGED", "USER_DISCONNECT", "NEW_CODE"] {
                    for bank in ["kuda", "gtbank"] {
                        bodies.append(Array(#"{"callback_type":"\#(type)","callback_code":"\#(code)","bankSlug":"\#(bank)","record":"r"}"#.utf8))
                        bodies.append(Array(#"{"type":"CALLBACK","method":"\#(type)","code":"\#(code)","bankSlug":"\#(bank)"}"#.utf8))
                    }
                }
            }
            for body in bodies {
                guard let event = try? Normalizer.normalize(body, receivedAt: Date()).get() else { continue }
                for env in [OkraEnvironment.production, .sandbox, .unknown] {
                    var bound = event
                    bound.environment = env
                    for record in Router.route(bound, table: table, receivedAt: Date()).records {
                        #expect(planned.contains(record.topic), "\(record.topic) for \(env) \(event.product).\(event.outcome) \(event.code ?? "-") is not planned")
                    }
                }
            }
        }
    }
}

/// `okra-bridge topics asyncapi`'s document, read as a consumer's tooling would.
@Suite("AsyncAPI document")
struct AsyncAPIDocumentTests {
    @Test("one channel and one send operation per planned topic, each message a reference that resolves, the envelope's schema in components")
    func channelsAndReferences() throws {
        let table = try RouteTable.load(path: TopicPlanTests.root.appendingPathComponent("routes.json").path)
        let plan = TopicPlanner.plan(table, environments: [.production, .sandbox])
        let document = AsyncAPIDocument.make(topics: plan, version: "0.1.0")
        #expect(document["asyncapi"] == .string("3.0.0"))
        guard case .object(let channels) = try #require(document["channels"]), case .object(let operations) = try #require(document["operations"]) else {
            Issue.record("channels and operations are objects")
            return
        }
        #expect(channels.map { $0.value["address"] } == plan.map { JSONValue.string($0.name) })
        #expect(operations.count == plan.count)
        #expect(channels.allSatisfy { $0.key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } })
        for channel in channels {
            guard case .object(let messages) = try #require(channel.value["messages"]) else { continue }
            #expect(!messages.isEmpty)
            for message in messages {
                let reference = try #require(message.value["$ref"]?.nonEmptyString)
                let path = reference.dropFirst(2).split(separator: "/").map(String.init)
                #expect(document.value(at: path) != nil, "\(channel.key): \(reference) does not resolve")
            }
        }
        let deadLetter = try #require(channels.first { $0.value["address"] == .string("okra.deadletter") })
        #expect(deadLetter.value["messages"]?["deadLetter"] != nil && deadLetter.value["messages"]?["structured"] == nil)
        // The payload is the envelope's schema, without the standalone file's $id.
        let envelope = try #require(document.value(at: ["components", "schemas", "envelope"]))
        #expect(envelope["$id"] == nil && envelope["properties"]?["okraproduct"] == EnvelopeSchema.structured["properties"]?["okraproduct"])
    }
}
