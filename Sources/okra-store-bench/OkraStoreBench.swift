import Foundation
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting
import OkraStore

/// `swift run -c release okra-store-bench [ENTRIES] [DIR]`: the event log's searches and export
/// over a log of ENTRIES entries (default 1,000,000) made through the store's own write path,
/// and the CPU that fill took an entry (two builds alternated compare the store alone);
/// docs/benchmarks.md records the figures. A DIR that already holds a log of that size is reused.
@main
struct OkraStoreBench {
    static func main() async throws {
        try await run()
    }

    nonisolated static func run() async throws {
        let arguments = CommandLine.arguments
        let count = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
        let directory = arguments.count > 2 ? arguments[2] : FileManager.default.temporaryDirectory.appendingPathComponent("okra-store-bench").path
        let store = try OutboxStore(directory: directory, maxPending: .max, reserveBytes: 0,
                                    eventLog: EventLogPolicy(retain: .seconds(3650 * 86400), retainBytes: .max))
        try await fill(store, to: count)
        try await searches(store, count: count)
        try await export(store)
    }

    /// Stores webhooks until the log holds `count` entries, publishing as it goes.
    static func fill(_ store: OutboxStore, to count: Int) async throws {
        let table = try RouteTable.load(Array(#"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#.utf8))
        let existing = try await store.logEntries(EventFilter(), limit: 1, before: nil).entries.first?.entry ?? 0
        guard existing < Int64(count) else { return }
        let started = ContinuousClock.now
        let cpuBefore = processCPU()
        var written = Int(existing)
        while written < count {
            let batch = min(2000, count - written)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in written..<(written + batch) {
                    group.addTask {
                        // About 2,000 customers with 500 events each; record ids unique.
                        let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-\#(index)","customerId":"cus-\#(index % 2000)","accountId":"acc-\#(index % 5000)","amount":\#(index)}"#
                        let event = try Normalizer.normalize(Array(body.utf8), receivedAt: Date()).get()
                        let records = Router.route(event, table: table, receivedAt: Date()).records
                        _ = try await store.accept(eventID: event.id, records: records, receivedAt: Date(),
                                                   provenance: Provenance(envelope: event, body: Array(body.utf8), tokenEnvironment: .production))
                    }
                }
                try await group.waitForAll()
            }
            written += batch
            // Published as it goes, as a running bridge would, so the outbox does not grow.
            if let last = try await store.pending(after: await store.publishedThrough, limit: 10_000_000).last {
                try await store.markPublished(through: last.seq)
            }
        }
        let filled = count - Int(existing)
        let cpu = processCPU()
        let (user, system) = (cpu.user - cpuBefore.user, cpu.system - cpuBefore.system)
        print("filled \(filled) entries in \(ContinuousClock.now - started)")
        // The process's own CPU over the fill: the store's cost an entry, without HTTP, a load
        // generator or a broker beside it (docs/benchmarks.md compares builds with it).
        print(String(format: "fill CPU: user %.2f s, system %.2f s, %.1f µs an entry", user, system, (user + system) * 1e6 / Double(max(filled, 1))))
    }

    /// The process's user and system CPU time so far, in seconds.
    static func processCPU() -> (user: Double, system: Double) {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    /// The searches an operator runs, each the best of five.
    static func searches(_ store: OutboxStore, count: Int) async throws {
        func timed(_ name: String, _ body: () async throws -> Int) async throws {
            var best = Duration.seconds(1000)
            var found = 0
            for _ in 0..<5 {
                let started = ContinuousClock.now
                found = try await body()
                best = min(best, ContinuousClock.now - started)
            }
            print("\(name): \(found) entries, best of 5: \(best)")
        }
        var byRecord = EventFilter()
        byRecord.record = "rec-\(count / 2)"
        try await timed("search by record") { try await store.logEntries(byRecord, limit: 100, before: nil).entries.count }
        var byCustomer = EventFilter()
        byCustomer.customer = "cus-1234"
        try await timed("search by customer (first page of 100)") { try await store.logEntries(byCustomer, limit: 100, before: nil).entries.count }
        var byType = EventFilter()
        byType.type = "okra.payment.*"
        try await timed("list by type glob (first page of 100)") { try await store.logEntries(byType, limit: 100, before: nil).entries.count }
    }

    /// The whole log exported, with the anonymous memory it took.
    static func export(_ store: OutboxStore) async throws {
        let rssBefore = residentBytes()
        var exported = 0
        var bytes = 0
        var peak = rssBefore
        let started = ContinuousClock.now
        try await store.exportLog(EventFilter()) { entry in
            exported += 1
            bytes += entry.body.count
            if exported % 100_000 == 0 { peak = max(peak, residentBytes()) }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("export: \(exported) entries in \(elapsed), \(Int(Double(exported) / seconds)) entries/s; anonymous memory \(rssBefore >> 20) MiB before, \(peak >> 20) MiB at most during")
    }

    /// The process's anonymous resident memory (heap and stacks; not the pages of the store file
    /// SQLite maps, which the kernel can drop at will), from /proc.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }) else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
