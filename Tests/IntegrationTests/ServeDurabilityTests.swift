import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import OkraEnvelope
import OkraKafka
import OkraRouting
import OkraTestSupport
import Synchronization
import Testing

/// What at-least-once promises: nothing that got a 200 is ever lost.
@Suite("serve durability (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct ServeDurabilityTests {
    typealias Bridge = ServeEndToEndTests.Bridge
    static let template = try! String(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"), encoding: .utf8)

    /// A unique production payment payload: its record id carries `n`.
    static func payload(_ n: Int, run: String) -> Data {
        Data(template.replacingOccurrences(of: "613f7c8c37a198uhbv4efce9", with: "\(run)-\(n)").utf8)
    }

    static func id(of body: Data) throws -> String {
        try Normalizer.normalize(Array(body), receivedAt: Date()).get().id
    }

    static func post(_ bridge: Bridge, _ body: Data) async -> Int? {
        try? await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0
    }

    /// Ids found on a topic (structured records carry them in idempotency-key).
    /// Nothing yet while the topic does not exist (the publisher creates it on first publish).
    static func ids(on topic: String, bootstrap: String, atLeast count: Int) async throws -> [String] {
        do {
            return try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: count, idle: .seconds(15))
                .compactMap { $0.header("idempotency-key")?.stringValue }
        } catch let error as KafkaError where error.code == .topic {
            return []
        }
    }

    @Test("with the broker down, durable POSTs still get 200 and arrive once a broker is back; direct POSTs get 503, then 200 once it is back")
    func brokerDown() async throws {
        _ = try await DevBroker.bootstrap()
        try await PrivateBroker.withBroker { broker, bootstrap in
            let durable = try await Bridge.start(bootstrap: bootstrap)
            let direct = try await Bridge.start(bootstrap: bootstrap, extraArguments: ["--delivery", "direct"])
            try await broker.stop()

            let run = UUID().uuidString.prefix(8).lowercased()
            var acknowledged: [String] = []
            for n in 0..<50 {
                let body = Self.payload(n, run: String(run))
                #expect(await Self.post(durable, body) == 200)
                acknowledged.append(try Self.id(of: body))
            }
            let started = ContinuousClock.now
            #expect(await Self.post(direct, Self.payload(999, run: String(run))) == 503)
            #expect(ContinuousClock.now - started < .seconds(30))

            try await broker.start()
            let topic = "\(durable.prefix).production.payment.success"
            var found: Set<String> = []
            let deadline = ContinuousClock.now + .seconds(90)
            while found.count < acknowledged.count && ContinuousClock.now < deadline {
                found = Set(try await Self.ids(on: topic, bootstrap: bootstrap, atLeast: acknowledged.count))
                if found.count < acknowledged.count { try await Task.sleep(for: .seconds(2)) }
            }
            #expect(Set(acknowledged).subtracting(found).isEmpty, "missing \(Set(acknowledged).subtracting(found).count) of \(acknowledged.count)")

            // Direct mode recovers too: its producer saw the old broker go, and a new one (with
            // none of the old producer state) come; a retried POST gets its 200 and is on Kafka.
            let directBody = Self.payload(1000, run: String(run))
            var directStatus: Int?
            let recoverBy = ContinuousClock.now + .seconds(90)
            while directStatus != 200 && ContinuousClock.now < recoverBy {
                directStatus = await Self.post(direct, directBody)
                if directStatus != 200 { try await Task.sleep(for: .seconds(1)) }
            }
            #expect(directStatus == 200, "direct mode did not recover: \(direct.process.log.suffix(2000))")
            let directIDs = try await Self.ids(on: "\(direct.prefix).production.payment.success", bootstrap: bootstrap, atLeast: 1)
            #expect(directIDs.contains(try Self.id(of: directBody)))
            #expect(await durable.stop() == 0)
            #expect(await direct.stop() == 0)
        }
    }

    @Test("SIGKILL five times during one stream of 5,000 POSTs from 16 clients, restarting on the same data dir each time: every 200 is on Kafka")
    func killMidStream() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let first = try await Bridge.start(bootstrap: bootstrap)
        let run = String(UUID().uuidString.prefix(8).lowercased())
        let acknowledged = Locked<[String]>([])
        let current = Locked<Bridge>(first)
        let total = 5000
        let clients = 16

        let kills = Locked(0)
        let restarted = Task<Bridge, any Error> {
            var bridge = first
            for kill in 1...5 {
                let waitUntil = ContinuousClock.now + .seconds(120)
                while acknowledged.withLock({ $0.count }) < 700 * kill && ContinuousClock.now < waitUntil {
                    try await Task.sleep(for: .milliseconds(5))
                }
                bridge.process.signal(SIGKILL)
                _ = await bridge.process.wait(timeout: .seconds(10))
                kills.withLock { $0 += 1 }
                bridge = try await Bridge.restart(bridge, bootstrap: bootstrap)
                current.withLock { $0 = bridge }
            }
            return bridge
        }
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for n in stride(from: client, to: total, by: clients) {
                        let body = Self.payload(n, run: run)
                        // As Okra does, a delivery that found no bridge (killed, restarting) is retried.
                        let retryUntil = ContinuousClock.now + .seconds(30)
                        var status: Int?
                        while status == nil && ContinuousClock.now < retryUntil {
                            status = await Self.post(current.withLock { $0 }, body)
                            if status == nil { try? await Task.sleep(for: .milliseconds(20)) }
                        }
                        if status == 200, let id = try? Self.id(of: body) {
                            acknowledged.withLock { $0.append(id) }
                        }
                    }
                }
            }
        }
        let second = try await restarted.value
        let acked = Set(acknowledged.withLock { $0 })
        #expect(kills.withLock { $0 } == 5, "killed during the stream")
        #expect(acked.count > 3500)
        let topic = "\(first.prefix).production.payment.success"
        var found: Set<String> = []
        var consumedCount = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while !acked.isSubset(of: found) && ContinuousClock.now < deadline {
            let ids = try await Self.ids(on: topic, bootstrap: bootstrap, atLeast: acked.count)
            consumedCount = ids.count
            found = Set(ids)
            if !acked.isSubset(of: found) { try await Task.sleep(for: .seconds(2)) }
        }
        let missing = acked.subtracting(found)
        #expect(missing.isEmpty, "\(missing.count) acknowledged events missing after five SIGKILLs and restarts")
        Logger(label: "integration").info("kill test", metadata: ["acknowledged": "\(acked.count)", "consumed": "\(consumedCount)", "duplicates": "\(consumedCount - found.count)"])
        #expect(await second.stop() == 0)
    }

    @Test("SIGTERM during load: exit 0, and everything acknowledged is published after a restart")
    func sigtermDuringLoad() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let bridge = try await Bridge.start(bootstrap: bootstrap)
        let run = String(UUID().uuidString.prefix(8).lowercased())
        let acknowledged = Locked<[String]>([])
        let stopper = Task<Int32?, Never> {
            while acknowledged.withLock({ $0.count }) < 300 { try? await Task.sleep(for: .milliseconds(10)) }
            return await bridge.stop()
        }
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<4 {
                group.addTask {
                    for n in stride(from: client, to: 2000, by: 4) {
                        let body = Self.payload(n, run: run)
                        guard let status = await Self.post(bridge, body) else { return }
                        if status == 200, let id = try? Self.id(of: body) { acknowledged.withLock { $0.append(id) } }
                    }
                }
            }
        }
        #expect(await stopper.value == 0)
        // Whatever was acknowledged but not yet published waits in the store for the next start.
        let again = try await Bridge.restart(bridge, bootstrap: bootstrap)
        let acked = Set(acknowledged.withLock { $0 })
        let topic = "\(bridge.prefix).production.payment.success"
        var found: Set<String> = []
        let deadline = ContinuousClock.now + .seconds(60)
        while !acked.isSubset(of: found) && ContinuousClock.now < deadline {
            found = Set(try await Self.ids(on: topic, bootstrap: bootstrap, atLeast: acked.count))
            if !acked.isSubset(of: found) { try await Task.sleep(for: .seconds(1)) }
        }
        #expect(acked.subtracting(found).isEmpty, "\(acked.subtracting(found).count) acknowledged events missing after SIGTERM")
        #expect(await again.stop() == 0)
    }
    /// A small tmpfs of this test's own (needs root, which CI has), removed afterwards.
    static func withSmallVolume<T>(megabytes: Int, _ body: (URL) async throws -> T) async throws -> T {
        guard getuid() == 0 else {
            // Mounting needs root. CI runs as root, so there this is a failure, never a skip.
            Issue.record("the full-volume test mounts a tmpfs and needs root; run the tests as root (CI does)")
            throw BrokerUnavailable("not root: cannot mount a tmpfs")
        }
        return try await SmallVolume.with(megabytes: megabytes, body)
    }

    @Test("a full data volume: 503 with Retry-After and not ready; a restart on the full volume drains it; accepting again once there is room",
          .enabled(if: getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true"))
    func fullVolume() async throws {
        _ = try await DevBroker.bootstrap()
        try await Self.withSmallVolume(megabytes: 4) { volume in
            try await PrivateBroker.withBroker { broker, bootstrap in
                try await broker.stop()
                let prefix = "full\(UUID().uuidString.prefix(6).lowercased())"
                let original = try String(contentsOf: DevBroker.repositoryRoot.appendingPathComponent("routes.json"), encoding: .utf8)
                let routesText = original.replacingOccurrences(of: "\"okra.", with: "\"\(prefix).")
                // Routes and logs outside the small volume; only the store is on it.
                let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-full-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: directory) }
                try routesText.write(to: directory.appendingPathComponent("routes.json"), atomically: true, encoding: .utf8)
                let routes = try RouteTable.load(Array(routesText.utf8))
                let arguments = ["--store-reserve", "1MiB"]
                var bridge = try await Bridge.launch(port: try Bridge.freePort(), prefix: prefix, routes: routes, directory: directory,
                                                     bootstrap: bootstrap, extraArguments: arguments, log: "serve-full.log", dataDirectory: volume)

                // Kafka is away: accept until the volume is full.
                let run = String(UUID().uuidString.prefix(8).lowercased())
                var acknowledged: [String] = []
                var refusals = 0
                var retryAfter: String?
                for n in 0..<20_000 where refusals < 5 {
                    let body = Self.payload(n, run: run)
                    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(bridge.port)/webhooks/okra")!)
                    request.httpMethod = "POST"
                    request.httpBody = body
                    request.setValue(ServeEndToEndTests.productionToken, forHTTPHeaderField: "Okra-Auth")
                    guard let (_, response) = try? await URLSession.shared.data(for: request) else {
                        Issue.record("serve stopped answering: \(bridge.process.log.suffix(3000))")
                        return
                    }
                    let http = response as! HTTPURLResponse
                    if http.statusCode == 200 {
                        acknowledged.append(try Self.id(of: body))
                    } else {
                        #expect(http.statusCode == 503)
                        retryAfter = http.value(forHTTPHeaderField: "Retry-After")
                        refusals += 1
                    }
                }
                #expect(refusals == 5, "the volume never filled")
                #expect(acknowledged.count > 10)
                #expect(retryAfter != nil)
                let (readyStatus, readyBody) = try await bridge.get("/readyz")
                #expect(readyStatus == 503 && readyBody.contains("volume full"), "\(readyBody)")
                #expect(await bridge.stop() == 0, "\(bridge.process.log.suffix(2000))")

                // Kafka is back; the bridge starts on the full volume and drains it.
                try await broker.start()
                bridge = try await Bridge.launch(port: bridge.port, prefix: prefix, routes: routes, directory: directory,
                                                 bootstrap: bootstrap, extraArguments: arguments, log: "serve-full-restart.log", dataDirectory: volume)
                let topic = "\(prefix).production.payment.success"
                var found: Set<String> = []
                let deadline = ContinuousClock.now + .seconds(120)
                while found.count < Set(acknowledged).count && ContinuousClock.now < deadline {
                    found = Set(try await Self.ids(on: topic, bootstrap: bootstrap, atLeast: acknowledged.count))
                    if found.count < Set(acknowledged).count { try await Task.sleep(for: .seconds(2)) }
                }
                #expect(Set(acknowledged).subtracting(found).isEmpty, "missing \(Set(acknowledged).subtracting(found).count) of \(acknowledged.count)")

                // Drained: new events are accepted again.
                var accepted = false
                let acceptBy = ContinuousClock.now + .seconds(60)
                var n = 100_000
                while !accepted && ContinuousClock.now < acceptBy {
                    accepted = await Self.post(bridge, Self.payload(n, run: run)) == 200
                    n += 1
                    if !accepted { try await Task.sleep(for: .milliseconds(500)) }
                }
                #expect(accepted, "\(bridge.process.log.suffix(2000))")
                #expect(try await bridge.get("/readyz").0 == 200)
                #expect(await bridge.stop() == 0)
            }
        }
    }
}

extension ServeEndToEndTests.Bridge {
    /// A new process on the same port, data dir and routes.
    static func restart(_ old: Self, bootstrap: String, extraArguments: [String] = []) async throws -> Self {
        try await launch(port: old.port, prefix: old.prefix, routes: old.routes, directory: old.directory,
                         bootstrap: bootstrap, extraArguments: extraArguments, log: "serve-restarted.log")
    }
}

/// A value behind a lock that closures can share.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }

}
