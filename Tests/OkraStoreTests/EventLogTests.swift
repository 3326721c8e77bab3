import Foundation
import GRDB
import GRDBSQLite
import Logging
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting
@testable import OkraStore
import Synchronization
import Testing

/// The event log (§9) against a real SQLite file, fed through the real pipeline.
@Suite("Event log")
struct EventLogTests {
    static let routes = #"""
        {"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},
         "routes":[{"name":"drop-widgets","match":{"product":"widget"},"drop":true}]}
        """#
    static let payment = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-PAY","customerId":"cus-1","accountId":"acc-1"}"#
    static let identity = #"{"type":"CALLBACK","method":"IDENTITY","code":"IDENTITY_SUCCESS","env":"production","record":"rec-ID","customerId":"cus-2"}"#
    static let widget = #"{"event":true,"event_name":"USER_LOGIN_ATTEMPTED","event_type":"DATA_EVENT","event_data":{"tracking_id":"t-1"}}"#

    /// Routes an operator changed to: every product to `v2.{product}`.
    static let v2Routes = #"{"version":1,"defaults":{"topic":"v2.{product}","key":"record"},"deadLetter":{"topic":"v2.deadletter"},"routes":[]}"#

    /// Routes that can be changed while the pipeline runs (a reload, for the replay tests).
    final class SwitchableRoutes: RouteSource {
        private let current: Mutex<RouteTable>
        init(_ text: String) throws { current = Mutex(try RouteTable.load(Array(text.utf8))) }
        var table: RouteTable { current.withLock { $0 } }
        func set(_ text: String) throws {
            let table = try RouteTable.load(Array(text.utf8))
            current.withLock { $0 = table }
        }
    }

    struct Harness {
        let directory: String
        let store: OutboxStore
        let ingest: Ingest
        let routes: SwitchableRoutes
        let operations: StoreOperations

        /// `window`: where the publisher's reads come from (``ReadsFrom``).
        init(eventLog: EventLogPolicy? = EventLogPolicy(), auditRetain: Duration = .seconds(365 * 86400), directory: String? = nil,
             maxPending: Int = 1_000_000, cipher: StoreCipher? = nil, window: ReadsFrom = .memory) throws {
            self.directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-\(UUID().uuidString)").path
            store = try OutboxStore(directory: self.directory, maxPending: maxPending, reserveBytes: 0, eventLog: eventLog, auditRetain: auditRetain,
                                    cipher: cipher, freeSpace: nil, recentRecords: window.recentRecords)
            routes = try SwitchableRoutes(EventLogTests.routes)
            var logger = Logger(label: "event-log-test")
            logger.logLevel = .critical
            let check = try SenderCheck(tokens: ["production=event-log-token-0123456789"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
            ingest = Ingest(senderCheck: check, routes: routes, sink: DurableSink(store: store), logger: logger)
            operations = StoreOperations(store: store, routes: routes, maxReplay: 1000, logger: logger)
        }

        @discardableResult
        func post(_ body: String, at date: Date = Date(), token: OkraEnvironment = .production) async -> IngestAnswer {
            await ingest.ingest(VerifiedDelivery(sender: VerifiedSender(environment: token), body: Array(body.utf8), receivedAt: date))
        }

        func id(_ answer: IngestAnswer) throws -> String {
            guard case .accepted(let id, _) = answer else { throw Failure("not accepted: \(answer)") }
            return id
        }

        func publishAll() async throws {
            let pending = try await store.pending(after: await store.publishedThrough, limit: 100_000)
            if let last = pending.last { try await store.markPublished(through: last.seq) }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Where a test's `pending` reads come from: the window of records just committed (as a
    /// publisher under load reads them), or the file (as after a restart): tests of what the
    /// publisher reads run both ways.
    enum ReadsFrom: CaseIterable, Sendable, CustomTestStringConvertible {
        case memory, file
        var recentRecords: Int { self == .memory ? 8192 : 0 }
        var testDescription: String { self == .memory ? "from memory" : "from the file" }
    }

    /// A connection of its own to the store in `directory`, as an older bridge's code would
    /// write it. It waits for locks: a store just released may still be closing (its last
    /// connection checkpoints the WAL under an exclusive lock).
    static func plainConnection(_ directory: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: directory + "/okra-bridge.sqlite", configuration: configuration)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    @Test("an accepted request is an entry in the same transaction: its attributes, envelope and records, pending, then published from the mark")
    func entryAndStates() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment))
        #expect(await harness.store.commitCount == 1, "one transaction for the records, the id and the entry")
        let entry = try #require(try await harness.store.logEntry(id))
        #expect(entry.envelope?.record == "rec-PAY")
        #expect(entry.envelope?.customer == "cus-1")
        #expect(entry.envelope?.type == "okra.payment.success")
        #expect(entry.envelope.map { String(decoding: $0.data, as: UTF8.self) } == Self.payment)
        #expect(entry.tokenEnvironment == .production)
        #expect(entry.records == [LoggedRecord(topic: "okra.production.payment.success", key: "rec-PAY", route: nil, state: .pending)])
        // The envelope as the log keeps it is the one published, byte for byte.
        let published = try await harness.store.pending(after: 0, limit: 1)[0]
        var expected = try #require(entry.envelope)
        expected.partitionKey = "rec-PAY"
        #expect(published.value == expected.jsonBytes())
        try await harness.publishAll()
        #expect(try await harness.store.logEntry(id)?.records.map(\.state) == [.published])
        #expect(try await harness.store.logEntry(String(entry.entry))?.id == id, "an entry number finds it too")
    }

    @Test("a duplicate delivery is counted on the first entry, not logged again; a dead letter and a dropped event are entries")
    func duplicatesDeadLettersDrops() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // One receive time for the three: the payment has no time of its own, so its id covers the
        // minute it was received, and three posts across a minute's end would be two events.
        let received = Date()
        let id = try harness.id(await harness.post(Self.payment, at: received))
        await harness.post(Self.payment, at: received)
        await harness.post(Self.payment, at: received)
        #expect(try await harness.store.logEntry(id)?.duplicates == 2)
        await harness.post("{not json")
        let widget = try harness.id(await harness.post(Self.widget))
        let all = try await harness.store.logEntries(EventFilter(), limit: 10, before: nil).entries
        #expect(all.count == 3)
        let deadLetter = try #require(all.first { $0.deadletter })
        #expect(deadLetter.reason == "malformed-json")
        #expect(deadLetter.id == nil)
        #expect(deadLetter.body == Array("{not json".utf8))
        #expect(deadLetter.records.map(\.topic) == ["okra.deadletter"])
        #expect(try await harness.store.logEntry(widget)?.records == [LoggedRecord(topic: nil, key: nil, route: "drop-widgets", state: .dropped)])
    }

    /// The log the filter tests search, and each entry's id by name: `identity` an hour ago,
    /// then `payment`, a dead letter (`deadletter`, no id) and `p0` to `p24` (payments to other
    /// records, same customer and account as `payment`).
    static func searchedLog() async throws -> (Harness, [String: String?]) {
        let harness = try Harness()
        var ids: [String: String?] = [:]
        ids["identity"] = try harness.id(await harness.post(Self.identity, at: Date().addingTimeInterval(-3600)))
        ids["payment"] = try harness.id(await harness.post(Self.payment))
        await harness.post("[1]")
        ids["deadletter"] = .some(nil)
        for index in 0..<25 {
            ids["p\(index)"] = try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-\(index)")))
        }
        return (harness, ids)
    }

    static let payments = ["payment"] + (0..<25).map { "p\($0)" }

    /// One filter and the entries it must find, by name.
    struct FilterCase: Sendable, CustomTestStringConvertible {
        let name: String
        let set: @Sendable (inout EventFilter) -> Void
        let expected: [String]
        var testDescription: String { name }
    }

    @Test("each filter finds exactly its entries", arguments: [
        FilterCase(name: "record", set: { $0.record = "rec-PAY" }, expected: ["payment"]),
        FilterCase(name: "customer", set: { $0.customer = "cus-2" }, expected: ["identity"]),
        FilterCase(name: "account", set: { $0.account = "acc-1" }, expected: payments),
        FilterCase(name: "type glob, product", set: { $0.type = "okra.identity.*" }, expected: ["identity"]),
        FilterCase(name: "type glob, outcome", set: { $0.type = "okra.*.success" }, expected: ["identity"] + payments),
        FilterCase(name: "code glob", set: { $0.code = "PAYMENT_*" }, expected: payments),
        FilterCase(name: "product", set: { $0.product = .payment }, expected: payments),
        FilterCase(name: "outcome and env", set: { $0.outcome = .success; $0.env = .production }, expected: ["identity"] + payments),
        FilterCase(name: "until", set: { $0.until = Date().addingTimeInterval(-60) }, expected: ["identity"]),
        FilterCase(name: "since", set: { $0.since = Date().addingTimeInterval(-60) }, expected: ["deadletter"] + payments),
        FilterCase(name: "dead letters", set: { $0.deadletter = true }, expected: ["deadletter"]),
        FilterCase(name: "events only", set: { $0.deadletter = false }, expected: ["identity"] + payments),
        FilterCase(name: "state pending", set: { $0.state = .pending }, expected: ["identity", "deadletter"] + payments),
        FilterCase(name: "an id no entry has", set: { $0.id = "okra-00000000000000000000000000000000" }, expected: []),
    ])
    func filters(_ filterCase: FilterCase) async throws {
        let (harness, ids) = try await Self.searchedLog()
        defer { harness.remove() }
        var filter = EventFilter()
        filterCase.set(&filter)
        let found = try await harness.store.logEntries(filter, limit: 1000, before: nil).entries.map(\.id)
        #expect(found.sorted { ($0 ?? "") < ($1 ?? "") } == filterCase.expected.map { ids[$0]! }.sorted { ($0 ?? "") < ($1 ?? "") })
    }

    @Test("a state filter follows the records: nothing is pending once every record is published")
    func stateFollowsRecords() async throws {
        let (harness, _) = try await Self.searchedLog()
        defer { harness.remove() }
        var filter = EventFilter()
        filter.state = .pending
        #expect(try await harness.store.logEntries(filter, limit: 1000, before: nil).entries.count == 28)
        try await harness.publishAll()
        #expect(try await harness.store.logEntries(filter, limit: 1000, before: nil).entries.isEmpty)
    }

    @Test("pages of a listing are newest first, each entry once; an export is oldest first, every entry once")
    func cursorsAndExport() async throws {
        let (harness, ids) = try await Self.searchedLog()
        defer { harness.remove() }
        var seen: [Int64] = []
        var cursor: Int64?
        repeat {
            let page = try await harness.store.logEntries(EventFilter(), limit: 10, before: cursor)
            #expect(page.entries.count <= 10)
            seen += page.entries.map(\.entry)
            cursor = page.next
        } while cursor != nil
        #expect(seen.count == ids.count)
        #expect(seen == seen.sorted(by: >))
        #expect(Set(seen).count == ids.count)
        var exported: [Int64] = []
        try await harness.store.exportLog(EventFilter()) { exported.append($0.entry) }
        #expect(exported == seen.reversed())
    }

    @Test("a parked record shows parked with its error; redrive makes it pending at the end of the outbox, then published; discard makes it dropped")
    func parkedRecords() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let first = try harness.id(await harness.post(Self.payment))
        let second = try harness.id(await harness.post(Self.identity))
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending[1].seq, parking: [
            .init(seq: pending[0].seq, reason: "message_too_large", error: "Broker: Message size too large"),
            .init(seq: pending[1].seq, reason: "topic", error: "Broker: Unknown topic or partition"),
        ])
        #expect(try await harness.store.logEntry(first)?.records.first?.state == .parked)
        #expect(try await harness.store.logEntry(first)?.records.first?.error == "Broker: Message size too large")
        let parked = try await harness.operations.parked(limit: 10)
        #expect(parked.map(\.eventID) == [first, second])
        #expect(try await harness.operations.redrive(.ids([parked[0].seq])) == 1)
        #expect(try await harness.operations.redrive(.ids([parked[0].seq])) == 0, "a record is redriven once")
        #expect(await harness.store.parkedCount == 1)
        #expect(try await harness.store.logEntry(first)?.records.first?.state == .pending)
        let again = try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)
        #expect(again.map(\.eventID) == [first])
        #expect(again[0].seq > pending[1].seq, "at the end of the outbox")
        try await harness.publishAll()
        #expect(try await harness.store.logEntry(first)?.records.first?.state == .published)
        #expect(try await harness.operations.discard(.all) == 1)
        #expect(await harness.store.parkedCount == 0)
        #expect(try await harness.operations.parked(limit: 10).isEmpty)
        #expect(try await harness.store.logEntry(second)?.records.first?.state == .dropped)
    }

    @Test("a listing with data ends its page once the bodies pass the page's bytes, and the next page goes on from there; without data no body is read")
    func listingPagesByBytes() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let pad = String(repeating: "x", count: 1 << 20)
        var ids: [String] = []
        for index in 0..<12 {
            let body = Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-BIG-\(index)").replacingOccurrences(of: "{", with: "{\"pad\":\"\(pad)\",", options: [], range: nil)
            ids.append(try harness.id(await harness.post(body)))
        }
        let first = try await harness.operations.events(EventFilter(), limit: 1000, before: nil, withData: true)
        // 8 MiB of bodies: the ninth entry starts the next page.
        #expect(first.entries.count == 8, "\(first.entries.count)")
        #expect(first.entries.allSatisfy { $0.body.count > 1 << 20 })
        let second = try await harness.operations.events(EventFilter(), limit: 1000, before: first.next, withData: true)
        #expect(second.entries.count == 4 && second.next == nil)
        #expect((first.entries + second.entries).compactMap(\.id) == ids.reversed(), "each entry once, newest first")
        let summary = try await harness.operations.events(EventFilter(), limit: 1000, before: nil, withData: false)
        #expect(summary.entries.count == 12 && summary.next == nil)
        #expect(summary.entries.allSatisfy { $0.body.isEmpty }, "no body read without data")
        var exported: [String] = []
        try await harness.operations.export(EventFilter()) { exported.append($0.id ?? "") }
        #expect(exported == ids, "an export pages by bytes too, each entry once, oldest first")
    }

    @Test("a redrive or discard of more records than a page or a chunk takes reaches every one of them")
    func redriveAndDiscardInPages() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        for index in 0..<250 {
            try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-PAGE-\(index)")))
        }
        let pending = try await harness.store.pending(after: 0, limit: 1000)
        try await harness.store.markPublished(through: pending.last!.seq, parking: pending.map { .init(seq: $0.seq, reason: "topic", error: "Broker: Unknown topic or partition") })
        let parked = try await harness.operations.parked(limit: 1000)
        #expect(parked.count == 250)
        // 120 by id (past a page of 100), among 600 ids (past a chunk of 500), most of them unknown.
        let chosen = parked.prefix(120).map(\.seq)
        #expect(try await harness.operations.redrive(.ids(chosen + (1_000_000..<1_000_480).map(Int64.init))) == 120)
        #expect(try await harness.operations.discard(.ids(parked.dropFirst(120).prefix(10).map(\.seq) + (2_000_000..<2_000_590).map(Int64.init))) == 10)
        #expect(try await harness.operations.redrive(.all) == 120)
        #expect(await harness.store.parkedCount == 0)
    }

    @Test("a redrive takes the records parked when it starts: one parked later (a higher seq, as a record parked again during the call) waits for the next")
    func redriveTakesASnapshot() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        for index in 0..<3 {
            try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-SNAP-\(index)")))
        }
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending[2].seq, parking: pending.map { .init(seq: $0.seq, reason: "topic", error: "Broker: Unknown topic or partition") })
        // As if the third had been parked after the call began: only the first two go back.
        #expect(try await harness.store.redrive(.all, through: pending[1].seq) == 2)
        #expect(await harness.store.parkedCount == 1)
        #expect(try await harness.operations.redrive(.all) == 1)
    }

    @Test("a redrive into a full outbox stops with OperationsUnavailable saying how many records went back; the rest stay parked")
    func redriveIntoFullOutbox() async throws {
        let harness = try Harness(maxPending: 3)
        defer { harness.remove() }
        try harness.id(await harness.post(Self.payment))
        try harness.id(await harness.post(Self.identity))
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending[1].seq, parking: [
            .init(seq: pending[0].seq, reason: "topic", error: "Broker: Unknown topic or partition"),
            .init(seq: pending[1].seq, reason: "topic", error: "Broker: Unknown topic or partition"),
        ])
        // Two new events wait for Kafka: room for one more record.
        try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-PAY-2")))
        try harness.id(await harness.post(Self.identity.replacingOccurrences(of: "rec-ID", with: "rec-ID-2")))
        let error = await #expect(throws: OperationsUnavailable.self) { try await harness.operations.redrive(.all) }
        #expect(error?.description.contains("after 1 records were put back") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("the outbox holds 3 unpublished records") == true, "the cause is named")
        #expect(await harness.store.parkedCount == 1, "the other stays parked")
    }

    @Test("replay: a dry run counts per topic under the current routes; execute appends the same ids with the replay header, to the new topics")
    func replay() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let payment = try harness.id(await harness.post(Self.payment))
        try harness.id(await harness.post(Self.identity))
        try await harness.publishAll()
        try harness.routes.set(Self.v2Routes)
        var filter = EventFilter()
        filter.type = "okra.payment.*"
        let plan = try await harness.operations.replay(filter, ids: [], execute: false)
        #expect(plan == ReplayPlan(events: 1, records: 1, topics: ["v2.payment": 1], executed: false))
        #expect(try await harness.store.depth().count == 0, "a dry run publishes nothing")
        let executed = try await harness.operations.replay(nil, ids: [payment], execute: true)
        #expect(executed.executed && executed.records == 1)
        let appended = try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)
        #expect(appended.map(\.topic) == ["v2.payment"])
        #expect(appended.map(\.eventID) == [payment])
        #expect(appended[0].headers.contains { $0.name == "okra-bridge-replay" && $0.value == "true" })
        #expect(appended[0].headers.contains { $0.name == "idempotency-key" && $0.value == payment })
        var everything = EventFilter()
        everything.since = Date(timeIntervalSince1970: 0)
        let all = try await harness.operations.replay(everything, ids: [], execute: false)
        #expect(all.events == 2)
        await #expect(throws: OperationsError.self) { try await harness.operations.replay(nil, ids: [], execute: false) }
        // An empty filter would be the whole log: refused, not taken as "everything".
        await #expect(throws: OperationsError.self) { try await harness.operations.replay(EventFilter(), ids: [], execute: true) }
        // An unknown id refuses the replay whole, before the known one is appended.
        let depth = try await harness.store.depth().count
        await #expect(throws: OperationsNotFound.self) {
            try await harness.operations.replay(nil, ids: [payment, "okra-00000000000000000000000000000000"], execute: true)
        }
        #expect(try await harness.store.depth().count == depth, "nothing appended")
    }

    @Test("a replay is listed on its entry: when, its records under the routes of then, pending, then published; the state filter sees them; pruning removes them with the entry")
    func replayOnEntry() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let payment = try harness.id(await harness.post(Self.payment))
        try await harness.publishAll()
        #expect(try await harness.store.logEntry(payment)?.replays == [])
        let sizeBefore = await harness.store.eventLogBytes
        try harness.routes.set(Self.v2Routes)
        let before = Date()
        _ = try await harness.operations.replay(nil, ids: [payment], execute: true)
        _ = try await harness.operations.replay(nil, ids: [payment], execute: true)
        var entry = try #require(try await harness.store.logEntry(payment))
        #expect(entry.records.map(\.state) == [.published], "the first records keep their own state")
        #expect(entry.replays.count == 2)
        #expect(entry.replays.map { $0.records.map(\.topic) } == [["v2.payment"], ["v2.payment"]])
        #expect(entry.replays.allSatisfy { $0.records.map(\.state) == [.pending] })
        #expect(entry.replays.allSatisfy { $0.replayedAtMilliseconds >= Int64(before.timeIntervalSince1970 * 1000) - 1 })
        #expect(await harness.store.eventLogBytes > sizeBefore, "retention by size counts the replays")
        var pending = EventFilter()
        pending.state = .pending
        #expect(try await harness.store.logEntries(pending, limit: 10, before: nil).entries.map(\.id) == [payment])
        try await harness.publishAll()
        entry = try #require(try await harness.store.logEntry(payment))
        #expect(entry.replays.allSatisfy { $0.records.map(\.state) == [.published] })
        #expect(try await harness.store.logEntries(pending, limit: 10, before: nil).entries.isEmpty)
        // Pruned with its entry, once past retention (a year from now).
        try await harness.store.prune(now: Date().addingTimeInterval(365 * 86400))
        #expect(try await harness.store.logEntries(EventFilter(), limit: 10, before: nil).entries.isEmpty)
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_log_replays") } == 0)
    }

    @Test("listings and exports find the replays of every replayed entry, the first and last of them too, and none on the others")
    func replaysInListings() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-list-\(index)"))))
        }
        try await harness.publishAll()
        try harness.routes.set(Self.v2Routes)
        let replayed = [ids[1], ids[3]]
        _ = try await harness.operations.replay(nil, ids: replayed, execute: true)
        let listed = try await harness.store.logEntries(EventFilter(), limit: 10, before: nil).entries
        var exported: [LogEntry] = []
        try await harness.operations.export(EventFilter()) { exported.append($0) }
        for entries in [listed, exported] {
            #expect(entries.count == 5)
            for entry in entries {
                let expected = replayed.contains(entry.id ?? "") ? 1 : 0
                #expect(entry.replays.count == expected, "\(entry.id ?? "-"): \(entry.replays.count) replays")
            }
        }
    }

    @Test("a replay the current routes drop appends nothing and lists nothing, twice over, while webhooks commit beside it")
    func replayDropped() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let payment = try harness.id(await harness.post(Self.payment))
        try await harness.publishAll()
        try harness.routes.set(#"""
            {"version":1,"defaults":{"topic":"okra.{product}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},
             "routes":[{"name":"drop-payments","match":{"product":"payment"},"drop":true}]}
            """#)
        // Two replays of the entry in the same moments (the same group commits), beside webhooks.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask { _ = try await harness.operations.replay(nil, ids: [payment], execute: true) }
            }
            for index in 0..<8 {
                group.addTask {
                    let answer = await harness.post(Self.identity.replacingOccurrences(of: "rec-ID", with: "rec-beside-\(index)"))
                    guard case .accepted = answer else { throw Failure("a webhook beside the replays: \(answer)") }
                }
            }
            try await group.waitForAll()
        }
        _ = try await harness.operations.replay(nil, ids: [payment], execute: true)
        #expect(try await harness.store.logEntry(payment)?.replays == [])
    }

    @Test("a replay that fills the outbox stops with OperationsUnavailable saying how many events went in, and exactly those are appended")
    func replayIntoFullOutbox() async throws {
        let harness = try Harness(maxPending: 3)
        defer { harness.remove() }
        var published: [String] = []
        for index in 0..<5 {
            published.append(try harness.id(await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-PAY-\(index)"))))
            try await harness.publishAll()
        }
        // One event waits for Kafka: room for two more.
        for index in 0..<1 {
            try harness.id(await harness.post(Self.identity.replacingOccurrences(of: "rec-ID", with: "rec-ID-\(index)")))
        }
        let before = try await harness.store.depth().count
        let error = await #expect(throws: OperationsUnavailable.self) {
            try await harness.operations.replay(nil, ids: published, execute: true)
        }
        #expect(error?.description.contains("after 2 events (2 records) were appended") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("the outbox holds 3 unpublished records") == true, "the cause is named")
        #expect(try await harness.store.depth().count == before + 2, "exactly the two it names were appended")
        // Once it drained, the same replay goes through.
        try await harness.publishAll()
        let plan = try await harness.operations.replay(nil, ids: Array(published.prefix(3)), execute: true)
        #expect(plan.records == 3)
    }

    @Test("a dead letter that the current code recognizes (written into the store as an older bridge would have) is an event when replayed")
    func replayRecoversDeadLetter() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // An older bridge knew no USER_REAUTH: it kept the body as an unrecognized dead letter.
        let body = #"{"event":"USER_REAUTH","message":"reconnect","data":{"customer":"cus-9"}}"#
        // Received ten minutes ago: the body has no time of its own, so its id covers that minute.
        let recordedAt = Int64(Date().addingTimeInterval(-600).timeIntervalSince1970 * 1000)
        try await harness.store.pool.write { db in
            try db.execute(sql: """
                INSERT INTO event_log(entry, id, recorded_at, token_env, deadletter, reason, body, first_seq, records, bytes)
                VALUES (1, NULL, ?, 'production', 1, 'unrecognized', ?, 1, '[["okra.deadletter",null,null]]', 100)
                """, arguments: [recordedAt, Data(body.utf8)])
        }
        var deadLetters = EventFilter()
        deadLetters.deadletter = true
        let plan = try await harness.operations.replay(deadLetters, ids: [], execute: true)
        #expect(plan.recovered == 1)
        #expect(plan.topics == ["okra.production.user.reauth_required": 1])
        let record = try #require(try await harness.store.pending(after: 0, limit: 10).first)
        #expect(record.topic == "okra.production.user.reauth_required")
        #expect(String(decoding: record.value, as: UTF8.self).contains(#""okracustomer":"cus-9""#))
        // Normalized as of its original receipt: the id it would have had then, not a new one.
        let original = try Normalizer.normalize(Array(body.utf8), receivedAt: Date(timeIntervalSince1970: Double(recordedAt) / 1000)).get().id
        #expect(record.eventID == original)
        #expect(original != (try Normalizer.normalize(Array(body.utf8), receivedAt: Date()).get().id))
    }

    @Test("a replay leaves out an attribute an older bridge stored with characters CloudEvents forbids")
    func replayDropsForbiddenAttributes() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment))
        // As a bridge before the attribute check would have stored it.
        try await harness.store.pool.write { db in try db.execute(sql: "UPDATE event_log SET record = ?", arguments: ["rec\r\nX-Injected: 1"]) }
        try await harness.publishAll()
        _ = try await harness.operations.replay(nil, ids: [id], execute: true)
        let replayed = try #require(try await harness.store.pending(after: 0, limit: 10).first)
        let envelope = try JSONParser.parse(replayed.value).value
        #expect(envelope["okrarecord"] == nil, "\(String(decoding: replayed.value, as: UTF8.self).prefix(400))")
        #expect(envelope["subject"] == .string("cus-1"))
        #expect(replayed.key.map { String(decoding: $0, as: UTF8.self) } == id, "the record key falls back to the id")
        #expect(replayed.headers.allSatisfy { CloudEventsString.isValid($0.value) })
    }

    @Test("an untimed v1 callback: a redelivery within its minute is a duplicate, the same content two minutes later a new event; a replay keeps its id")
    func untimedCallbacks() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let periodic = #"{"callback_type":"TRANSACTIONS","callback_code":"PERIODIC_TRANSACTIONS","record":"rec-U","new_transactions":3}"#
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 600) // a minute's start
        let first = try harness.id(await harness.post(periodic, at: start.addingTimeInterval(5)))
        #expect(await harness.post(periodic, at: start.addingTimeInterval(50)) == .accepted(id: first, duplicate: true))
        let second = try harness.id(await harness.post(periodic, at: start.addingTimeInterval(125)))
        #expect(second != first)
        #expect(try await harness.store.pending(after: 0, limit: 10).map(\.eventID) == [first, second], "both published")
        _ = try await harness.operations.replay(nil, ids: [first], execute: true)
        let replayed = try #require(try await harness.store.pending(after: 0, limit: 10).last)
        #expect(replayed.eventID == first)
        #expect(replayed.headers.contains { $0.name == "idempotency-key" && $0.value == first })
    }

    @Test("retention: entries past --retain or beyond --retain-size are pruned, oldest first, and the file stops growing")
    func retention() async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 200_000))
        defer { harness.remove() }
        let old = Date().addingTimeInterval(-7200)
        let expired = try harness.id(await harness.post(Self.identity, at: old))
        let kept = try harness.id(await harness.post(Self.identity.replacingOccurrences(of: "rec-ID", with: "rec-KEPT")))
        try await harness.publishAll()
        try await harness.store.prune()
        #expect(try await harness.store.logEntry(expired) == nil)
        #expect(try await harness.store.logEntry(kept) != nil)
        // By size: 5 rounds of 1,000 entries of about 400 bytes into a 200 kB log.
        var sizes: [Int] = []
        for round in 0..<5 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<1000 {
                    group.addTask { _ = await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-\(round)-\(index)")) }
                }
                try await group.waitForAll()
            }
            try await harness.publishAll()
            try await harness.store.prune()
            #expect(await harness.store.eventLogBytes <= 200_000)
            // The log's own pages (its table and indexes); the dedupe ids grow apart from it, for their window.
            sizes.append(try await harness.store.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dbstat WHERE name LIKE 'event_log%'") ?? 0
            })
        }
        // What is kept is the newest entries, without a gap (requests of a round commit in any order).
        let remaining = try await harness.store.logEntries(EventFilter(), limit: 1000, before: nil).entries.map(\.entry)
        #expect(!remaining.isEmpty && remaining.count < 1000)
        #expect(remaining == Array((remaining.last!...remaining.first!).reversed()))
        #expect(remaining.first == 5002, "the last of 2 + 5,000 entries")
        var oldest = EventFilter()
        oldest.record = "rec-0-0"
        #expect(try await harness.store.logEntries(oldest, limit: 1, before: nil).entries.isEmpty)
        // The search keys' newest bucket fills and their oldest empties a page at a time, so the
        // count moves by a few pages from round to round (51 to 63 over twelve rounds); growth
        // would add pages every round.
        let early = sizes[0...2].max()!
        #expect(sizes[4] <= early + early / 10, "pages: \(sizes)")
    }

    @Test("a retention transaction by age reads the lowest 128 entries at most, not the whole log (it runs on the writer, every webhook waits for it)")
    func retentionPassIsBounded() async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 1 << 40))
        defer { harness.remove() }
        await harness.post(Self.payment)
        try await harness.publishAll()
        // 32,768 recent entries, copies of the first.
        let columns = "id, recorded_at, time, product, outcome, code, env, token_env, record, customer, account, bank, shape, deadletter, reason, dropped_by, body, first_seq, records, duplicates, bytes, key_id, traceparent, tracestate"
        try await harness.store.pool.write { db in
            for _ in 0..<15 { try db.execute(sql: "INSERT INTO event_log (\(columns)) SELECT \(columns) FROM event_log") }
        }
        let horizon = Int64(Date().addingTimeInterval(-3600).timeIntervalSince1970 * 1000)
        let (count, steps) = try await harness.store.pool.read { db -> (Int, Int32) in
            let statement = try db.makeStatement(sql: "SELECT COUNT(*) FROM (\(GroupCommitter.logPruneSlice(bySize: false)))")
            let count = try Int.fetchOne(statement, arguments: [Int64.max, horizon]) ?? -1
            return (count, sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 0))
        }
        #expect(count == 0)
        // About a dozen steps a row for 128 rows; the whole log would be well over 100,000.
        #expect(steps < 5_000, "\(steps) steps of SQLite's machine")
        #expect(try await harness.store.prune() == 0)
    }

    /// Counts the event log's deleted rows per committed transaction.
    final class DeletesPerTransaction: TransactionObserver, @unchecked Sendable {
        private let counts = Mutex((current: 0, largest: 0, transactions: 0))
        var largest: Int { counts.withLock { $0.largest } }
        var transactions: Int { counts.withLock { $0.transactions } }
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
            if case .delete(let table) = eventKind { return table == "event_log" }
            return false
        }
        func databaseDidChange(with event: DatabaseEvent) { counts.withLock { $0.current += 1 } }
        func databaseDidCommit(_ db: Database) {
            counts.withLock { counts in
                if counts.current > 0 { counts.transactions += 1 }
                counts.largest = max(counts.largest, counts.current)
                counts.current = 0
            }
        }
        func databaseDidRollback(_ db: Database) { counts.withLock { $0.current = 0 } }
    }

    /// A log of 2,048 entries (copies of one) in `directory`, opened again with a limit of a
    /// tenth of its size; with that size.
    static func logOverItsSize(_ directory: String) async throws -> (Harness, Int64) {
        do {
            let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 1 << 40), directory: directory)
            await harness.post(Self.payment)
            try await harness.publishAll()
            let columns = "id, recorded_at, time, product, outcome, code, env, token_env, record, customer, account, bank, shape, deadletter, reason, dropped_by, body, first_seq, records, duplicates, bytes, key_id, traceparent, tracestate"
            try await harness.store.pool.write { db in
                for _ in 0..<11 { try db.execute(sql: "INSERT INTO event_log (\(columns)) SELECT \(columns) FROM event_log") }
            }
        }
        let whole = try await Harness(directory: directory).store.eventLogBytes
        return (try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: whole / 10), directory: directory), whole)
    }

    @Test("retention by size removes at most 128 entries a transaction: every webhook's commit waits behind the one in progress")
    func retentionTransactionsAreShort() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (harness, whole) = try await Self.logOverItsSize(directory)
        let deletes = DeletesPerTransaction()
        harness.store.pool.add(transactionObserver: deletes, extent: .observerLifetime)
        let removed = try await harness.store.pruneLogToSize(budget: .seconds(60))
        #expect(removed > 1800)
        #expect(await harness.store.eventLogBytes <= whole / 10)
        #expect(deletes.largest <= 128 && deletes.transactions >= 14, "at most \(deletes.largest) entries in each of \(deletes.transactions) transactions")
        #expect(try await harness.store.pruneLogToSize() == 0, "under the limit: nothing more")
    }

    @Test("a pass to --retain-size stops once its time budget is spent; the rest waits for the next pass (the upkeep's other work goes on)")
    func sizePassKeepsToItsBudget() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (harness, whole) = try await Self.logOverItsSize(directory)
        #expect(try await harness.store.pruneLogToSize(budget: .zero) == 128, "one transaction when the budget is spent at once")
        #expect(try await harness.store.pruneLogToSize(budget: .zero) == 128)
        #expect(await harness.store.eventLogBytes > whole / 10)
        #expect(try await harness.store.pruneLogToSize(budget: .seconds(60)) > 1500)
        #expect(await harness.store.eventLogBytes <= whole / 10)
    }

    @Test("the upkeep prunes the log to --retain-size every second, not only at its minute's prune")
    func upkeepPrunesToSizeEverySecond() async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 20_000))
        defer { harness.remove() }
        for index in 0..<200 { await harness.post(Self.payment.replacingOccurrences(of: "rec-PAY", with: "rec-\(index)")) }
        try await harness.publishAll()
        #expect(await harness.store.eventLogBytes > 20_000)
        var logger = Logger(label: "upkeep")
        logger.logLevel = .critical
        let upkeep = StoreUpkeep(store: harness.store, logger: logger, pruneInterval: .seconds(3600))
        let running = Task { try await upkeep.run() }
        defer { running.cancel() }
        var bytes = await harness.store.eventLogBytes
        for _ in 0..<100 where bytes > 20_000 {
            try await Task.sleep(for: .milliseconds(100))
            bytes = await harness.store.eventLogBytes
        }
        #expect(bytes <= 20_000, "the log is \(bytes) bytes after 10 s")
    }

    @Test("a record's body is written once, in its entry: every record comes back from the outbox byte for byte (structured, binary, dead letter)",
          arguments: ReadsFrom.allCases)
    func recordValuesRoundTrip(_ window: ReadsFrom) async throws {
        let harness = try Harness(window: window)
        defer { harness.remove() }
        try harness.routes.set(#"""
            {"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},
             "routes":[{"name":"both","match":{"product":"payment"},"topic":"binary.{product}","format":"binary","continue":true}]}
            """#)
        let table = harness.routes.table
        let received = Date()
        let event = try Normalizer.normalize(Array(Self.payment.utf8), receivedAt: received).get().bound(to: .production)!
        let expected = Router.route(event, table: table, receivedAt: received).records.map(\.value)
        await harness.post(Self.payment, at: received)
        await harness.post("{not json")
        let stored = try await harness.store.pending(after: 0, limit: 10)
        #expect(stored.count == 3)
        #expect(stored[0].value == expected[0], "binary: the body")
        #expect(stored[1].value == expected[1], "structured: the envelope")
        #expect(stored[2].value == Array("{not json".utf8), "dead letter: the raw body")
        // The outbox row itself holds less than the value: the body is in the entry.
        let kept = try await harness.store.pool.read { db in try Int.fetchAll(db, sql: "SELECT length(value) FROM records ORDER BY seq") }
        #expect(kept[0] == 0 && kept[1] < expected[1].count - Self.payment.utf8.count + 2 && kept[2] == 0, "\(kept)")
    }

    @Test("retention never removes an entry whose records wait for Kafka; a parked record keeps its whole value after its entry is gone",
          arguments: ReadsFrom.allCases)
    func retentionKeepsWhatIsUnpublished(_ window: ReadsFrom) async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 1), window: window)
        defer { harness.remove() }
        let waiting = try harness.id(await harness.post(Self.payment, at: Date().addingTimeInterval(-7200)))
        let before = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.prune()
        #expect(try await harness.store.logEntry(waiting) != nil, "its record is still pending")
        #expect(try await harness.store.pending(after: 0, limit: 10) == before)
        // Parked, then the entry pruned: the parked record still has its value, and a redrive sends it whole.
        try await harness.store.markPublished(through: before[0].seq, parking: [.init(seq: before[0].seq, reason: "topic", error: "e")])
        try await harness.store.prune()
        #expect(try await harness.store.logEntry(waiting) == nil)
        #expect(try await harness.operations.redrive(.all) == 1)
        let redriven = try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)
        #expect(redriven.map(\.value) == before.map(\.value))
    }

    @Test("--retain 0: no entries are kept")
    func logOff() async throws {
        let harness = try Harness(eventLog: nil)
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment))
        #expect(try await harness.store.logEntry(id) == nil)
        #expect(try await harness.store.logEntries(EventFilter(), limit: 10, before: nil).entries.isEmpty)
    }

    @Test("a store file of the previous layout (version 3) is upgraded in place: its records, ids and parked records stay, and new requests are logged")
    func upgradeFromVersion3() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v3-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            // The version 3 layout, as that bridge wrote it.
            let queue = try Self.plainConnection(directory)
            try await queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE event_ids (id BLOB PRIMARY KEY NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE INDEX event_ids_received_at ON event_ids(received_at);
                    CREATE TABLE records (seq INTEGER PRIMARY KEY, event_id TEXT, topic TEXT NOT NULL, key BLOB, headers TEXT NOT NULL,
                                          value BLOB NOT NULL, created_at INTEGER NOT NULL);
                    CREATE TABLE publish_progress (one INTEGER PRIMARY KEY CHECK (one = 1), published_through INTEGER NOT NULL);
                    INSERT INTO publish_progress(one, published_through) VALUES (1, 1);
                    CREATE TABLE parked (seq INTEGER PRIMARY KEY, event_id TEXT, topic TEXT NOT NULL, key BLOB, headers TEXT NOT NULL,
                                         value BLOB NOT NULL, created_at INTEGER NOT NULL, parked_at INTEGER NOT NULL, reason TEXT NOT NULL,
                                         error TEXT NOT NULL);
                    PRAGMA user_version = 3;
                    """)
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try db.execute(sql: "INSERT INTO event_ids(id, received_at) VALUES ('old-id', ?)", arguments: [now])
                try db.execute(sql: "INSERT INTO parked VALUES (1, 'old-parked', 't', NULL, '[]', X'7B7D', ?, ?, 'topic', 'Broker: Unknown topic')",
                               arguments: [now, now])
                try db.execute(sql: "INSERT INTO records VALUES (2, 'old-id', 't', NULL, '[]', X'7B7D', ?)", arguments: [now])
            }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        #expect(try await harness.store.pending(after: 1, limit: 10).map(\.eventID) == ["old-id"])
        #expect(await harness.store.parkedCount == 1)
        #expect(try await harness.operations.parked(limit: 10).map(\.eventID) == ["old-parked"])
        #expect(try await harness.store.accept(eventID: "old-id", records: [], receivedAt: Date()) == .duplicate)
        let id = try harness.id(await harness.post(Self.payment))
        #expect(try await harness.store.logEntry(id)?.records.map(\.state) == [.pending])
        #expect(try await harness.operations.redrive(.all) == 1)
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
    }

    @Test("an entry keeps its request's trace context, an event's and a dead letter's; a replay's records carry it again; a file of version 8 gains the columns")
    func traceContextKeptAndUpgrade() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v8-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trace = try #require(TraceContext(traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", traceState: "okra=test"))
        func traceparents(_ records: [OutboxStore.PendingRecord]) -> [String] {
            records.compactMap { record in record.headers.first { $0.name == "traceparent" }?.value }
        }
        let oldID: String
        do {
            // A version 8 file: an entry from before, then the columns gone.
            let harness = try Harness(directory: directory)
            oldID = try harness.id(await harness.post(Self.payment))
            try await harness.publishAll()
        }
        do {
            let queue = try Self.plainConnection(directory)
            try await queue.write { db in
                try db.execute(sql: "ALTER TABLE event_log DROP COLUMN traceparent; ALTER TABLE event_log DROP COLUMN tracestate; PRAGMA user_version = 8")
            }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
        #expect(try await harness.store.logEntry(oldID)?.trace == nil)
        let sender = VerifiedSender(environment: .production)
        let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_FAILED","env":"production","record":"rec-traced"}"#
        let id = try harness.id(await harness.ingest.ingest(VerifiedDelivery(sender: sender, body: Array(body.utf8), receivedAt: Date(), trace: trace)))
        _ = await harness.ingest.ingest(VerifiedDelivery(sender: sender, body: Array("{not json".utf8), receivedAt: Date(), trace: trace))
        let entry = try #require(try await harness.store.logEntry(id))
        #expect(entry.trace == trace && entry.envelope?.trace == trace)
        var deadLetters = EventFilter()
        deadLetters.deadletter = true
        let deadLetter = try #require(try await harness.store.logEntries(deadLetters, limit: 10, before: nil).entries.first)
        #expect(deadLetter.trace == trace)
        #expect(traceparents(try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)) == [trace.traceParent, trace.traceParent])
        try await harness.publishAll()
        _ = try await harness.operations.replay(nil, ids: [id, String(deadLetter.entry)], execute: true)
        let replayed = try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)
        #expect(replayed.count == 2)
        #expect(traceparents(replayed) == [trace.traceParent, trace.traceParent])
    }

    @Test("a store file of version 4 (no replays table) is upgraded in place: its entries stay, and a replay is listed on its entry")
    func upgradeFromVersion4() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v4-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let id: String
        do {
            // A version 4 file: this layout without event_log_replays.
            let harness = try Harness(directory: directory)
            id = try harness.id(await harness.post(Self.payment))
            try await harness.publishAll()
        }
        do {
            let queue = try Self.plainConnection(directory)
            try await queue.write { db in try db.execute(sql: "DROP TABLE event_log_replays; PRAGMA user_version = 4") }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        #expect(try await harness.store.logEntry(id)?.records.map(\.state) == [.published])
        _ = try await harness.operations.replay(nil, ids: [id], execute: true)
        #expect(try await harness.store.logEntry(id)?.replays.map { $0.records.map(\.state) } == [[.pending]])
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
    }

    @Test("a store file of version 5 (dedupe by id alone) is upgraded in place: each id takes its entry's environment, one without an entry takes unknown")
    func upgradeFromVersion5() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v5-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let production: String
        let sandbox: String
        // One receive time for every post: the payment has no time of its own, so its id covers the minute received.
        let received = Date()
        let disconnect = #"{"event":"USER_DISCONNECT","data":{"customer":"c-v5","disconnected_at":"2026-12-03T10:00:00.000Z"}}"#
        do {
            let harness = try Harness(directory: directory)
            production = try harness.id(await harness.post(Self.payment, at: received))
            sandbox = try harness.id(await harness.post(disconnect, at: received, token: .sandbox))
            // An id with no entry (as with the log off).
            _ = try await harness.store.accept(eventID: "okra-00000000000000000000000000000001", records: [], receivedAt: Date())
        }
        do {
            // The version 5 layout of event_ids: keyed by the id alone.
            let queue = try Self.plainConnection(directory)
            try await queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE old_ids (id BLOB PRIMARY KEY NOT NULL, received_at INTEGER NOT NULL, entry INTEGER) WITHOUT ROWID;
                    INSERT INTO old_ids SELECT id, received_at, entry FROM event_ids;
                    DROP TABLE event_ids;
                    ALTER TABLE old_ids RENAME TO event_ids;
                    CREATE INDEX event_ids_received_at ON event_ids(received_at);
                    PRAGMA user_version = 5;
                    """)
            }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        let environments = try await harness.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT env, entry FROM event_ids ORDER BY env").map { ($0[0] as String, $0[1] as Int64?) }
        }
        #expect(environments.map(\.0) == ["production", "sandbox", "unknown"])
        #expect(environments.map { $0.1 != nil } == [true, true, false], "only the id without an entry takes unknown")
        // Each id still dedupes in its own environment, and only there.
        #expect(await harness.post(Self.payment, at: received) == .accepted(id: production, duplicate: true))
        #expect(await harness.post(disconnect, at: received, token: .sandbox) == .accepted(id: sandbox, duplicate: true))
        #expect(await harness.post(disconnect, at: received, token: .production) == .accepted(id: sandbox, duplicate: false))
        #expect(try await harness.store.logEntries(sandbox).map(\.tokenEnvironment) == [.production, .sandbox])
        #expect(try await harness.store.logEntries(sandbox, environment: "sandbox").count == 1)
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
    }

    @Test("a store file of version 6 (a drop kept as reason dropped:<route>) is upgraded in place: the route moves to dropped_by, reason keeps dead letters' reasons only")
    func upgradeFromVersion6() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v6-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dropped: String
        do {
            let harness = try Harness(directory: directory)
            dropped = try harness.id(await harness.post(Self.widget))
            _ = await harness.post("{not json")
        }
        do {
            // The version 6 layout: no dropped_by column, the route in reason.
            let queue = try Self.plainConnection(directory)
            try await queue.write { db in
                try db.execute(sql: """
                    UPDATE event_log SET reason = 'dropped:' || dropped_by WHERE dropped_by IS NOT NULL;
                    ALTER TABLE event_log DROP COLUMN dropped_by;
                    PRAGMA user_version = 6;
                    """)
            }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        let entry = try #require(try await harness.store.logEntry(dropped))
        #expect(entry.records == [LoggedRecord(topic: nil, key: nil, route: "drop-widgets", state: .dropped)])
        #expect(entry.reason == nil && !entry.deadletter)
        let columns = try await harness.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT deadletter, reason, dropped_by FROM event_log ORDER BY entry")
                .map { [String(($0["deadletter"] as Int)), $0["reason"] ?? "-", $0["dropped_by"] ?? "-"] }
        }
        #expect(columns == [["0", "-", "drop-widgets"], ["1", "malformed-json", "-"]])
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
    }
}
