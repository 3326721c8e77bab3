import Crypto
import Foundation
import GRDBSQLite
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OkraEnvelope
import OkraIngest
import OkraKafka
import OkraRouting
import OkraStore
import Synchronization

// `okra-floor-bench PORT DIR ROUTES BROKERS`, with FLOOR_TOKEN in the environment: the least a
// receiver made of the contract's own parts costs, wired as directly as they go (the floors of
// docs/benchmarks.md, run by `scripts/bench.sh floors`). Benchmark tool only, not the bridge.
//
// A webhook, on its connection's event loop: the token, the body, the bridge's own decision
// (normalize and route, `decide`), two AES-GCM seals (the body, and the record's headers and
// value as one). Then one writer thread: a transaction a batch with the bridge's rows (the dedupe
// id, the event log's row with its search keys by the schema's triggers, the outbox's record),
// statements prepared once and bound through SQLite's C API, a synced WAL, a PASSIVE checkpoint
// at most every 25 ms between transactions; each event loop's answers handed back to it in one
// task after the commit. The records, in clear from memory, go to Kafka through the bridge's
// producer in rounds, as its publisher sends them; what was delivered is deleted with the next
// batch. FLOOR_UPTO stops after a stage (``Stage``), or runs direct mode's parts instead.
//
// Left out, so the figure is a floor: the listener's guards, metrics, logs and traces, the
// answer's id, Swift concurrency on the request's path, the bound on pending records, the
// volume's checks, dedupe hits (every benchmark event is new), retention, the dead-letter and
// duplicate paths' details.

/// How much of a webhook the floor does, each stage adding to the one before it
/// (`FLOOR_UPTO`): what each part costs where the others run beside it.
enum Stage: String, Comparable {
    /// The token, the body, the decision (normalize, route); answered on the event loop.
    case decide
    /// Then the body and each record sealed (what it keeps beside the body), the dedupe id
    /// decoded, as the store keeps them (still on the event loop).
    case sealed
    /// Then handed to the writer thread, which answers at once (no SQLite).
    case handoff
    /// Then the rows, committed a batch a transaction, the WAL not synced.
    case rows
    /// Then the WAL synced at every commit (`synchronous = FULL`).
    case synced
    /// Then the records published to Kafka from memory (the whole floor).
    case kafka
    /// Not a stage of the durable floor: direct mode's, the decision's records sent to Kafka
    /// and the answer given when their delivery reports came (nothing sealed or stored).
    case direct

    static func < (lhs: Stage, rhs: Stage) -> Bool {
        let order: [Stage] = [.direct, .decide, .sealed, .handoff, .rows, .synced, .kafka]
        return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
    }
}

/// One webhook's rows, made on its event loop.
struct Accepted: Sendable {
    struct Record: Sendable {
        var topic: String
        var key: [UInt8]?
        var headers: [KafkaHeader]
        var value: [UInt8]
        /// How the store keeps the value beside the entry's body (`StoreSchema.ValueForm`).
        var form: Int64
        /// The headers' JSON and what the value keeps beside the body, sealed as one.
        var sealed: [UInt8]
    }

    var dedupeID: [UInt8]
    var environment: String
    var event: CanonicalEvent?
    var sealedBody: [UInt8]
    var topics: String
    var bodyBytes: Int
    var receivedAt: Int64
    var records: [Record]
    /// The connection's event loop.
    var loop: any EventLoop
    /// Run on `loop` after the commit (true) or its failure (false).
    var answer: @Sendable (Bool) -> Void
}

/// The one writer: takes webhooks from every event loop, commits them a batch a transaction.
final class Writer: @unchecked Sendable {
    private let condition = NSCondition()
    private var queued: [Accepted] = []
    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]
    private var seq: Int64 = 0
    private var entry: Int64 = 0
    private var markedThrough: Int64 = 0
    private var lastBatchEnd: Int64 = 0
    private var lastCheckpoint = ContinuousClock.now
    private let committed: AsyncStream<Void>.Continuation
    /// Records committed and not yet sent, and the sequence number of the last of them.
    let unsent = Mutex((records: [Accepted.Record](), through: Int64(0)))
    /// The highest sequence number Kafka confirmed, every one below it too (the publisher's).
    let delivered = DeliveredMark()

    private let stage: Stage

    init(path: String, schema: [String], stage: Stage, committed: AsyncStream<Void>.Continuation) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else {
            throw FloorError("cannot open \(path)")
        }
        db = handle
        self.committed = committed
        self.stage = stage
        for pragma in ["journal_mode = WAL", stage >= .synced ? "synchronous = FULL" : "synchronous = OFF", "wal_autocheckpoint = 0", "mmap_size = \(256 << 20)",
                       "secure_delete = ON", "recursive_triggers = ON"] {
            try exec("PRAGMA " + pragma)
        }
        for sql in schema { try exec(sql) }
    }

    func submit(_ accepted: Accepted) {
        condition.lock()
        queued.append(accepted)
        condition.signal()
        condition.unlock()
    }

    /// The writer thread's loop: every queued webhook in one transaction, until the process ends.
    func run() {
        while true {
            condition.lock()
            while queued.isEmpty { condition.wait() }
            let batch = queued
            queued = []
            condition.unlock()
            let committed = stage < .rows || ((try? write(batch)) ?? false)
            if !committed { try? exec("ROLLBACK") }
            answer(batch, committed)
            if committed && stage >= .kafka { publish(batch) }
            if ContinuousClock.now - lastCheckpoint >= .milliseconds(25) {
                sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                lastCheckpoint = .now
            }
        }
    }

    /// Each event loop's answers in one task on it, not one task an answer.
    private func answer(_ batch: [Accepted], _ committed: Bool) {
        var byLoop: [(loop: any EventLoop, answers: [@Sendable (Bool) -> Void])] = []
        for accepted in batch {
            if let index = byLoop.firstIndex(where: { $0.loop === accepted.loop }) {
                byLoop[index].answers.append(accepted.answer)
            } else {
                byLoop.append((accepted.loop, [accepted.answer]))
            }
        }
        for (loop, answers) in byLoop {
            loop.execute { for answer in answers { answer(committed) } }
        }
    }

    private func write(_ batch: [Accepted]) throws -> Bool {
        try exec("BEGIN IMMEDIATE")
        for accepted in batch {
            entry += 1
            try step("INSERT OR IGNORE INTO event_ids(received_at, entry, env, id) VALUES (?, ?, ?, ?)",
                     [.int(accepted.receivedAt), .int(entry), .text(accepted.environment), .blob(accepted.dedupeID)])
            try insertLogRow(accepted)
            for record in accepted.records {
                seq += 1
                try step("INSERT INTO records(seq, body_entry, value_form, event_id, topic, key, headers, value, created_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [.int(seq), .int(entry), .int(record.form), .text(accepted.event?.id), .text(record.topic), record.key.map { .blob($0) } ?? .null,
                          .text(""), .blob(record.sealed), .int(accepted.receivedAt), .text("floor")])
            }
        }
        // Without Kafka, each batch deletes the records of the batch before it.
        let through = stage >= .kafka ? delivered.value : lastBatchEnd
        defer { lastBatchEnd = seq }
        if through > markedThrough {
            try step("UPDATE publish_progress SET published_through = ?", [.int(through)])
            try step("DELETE FROM records WHERE seq <= ?", [.int(through)])
            markedThrough = through
        }
        try exec("COMMIT")
        return true
    }

    private func insertLogRow(_ accepted: Accepted) throws {
        let event = accepted.event
        try step("""
            INSERT INTO event_log(entry, first_seq, id, recorded_at, time, product, outcome, code, env, token_env, record, customer, account,
                                  bank, shape, deadletter, reason, body, records, bytes, key_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.int(entry), .int(seq + 1), .text(event?.id), .int(accepted.receivedAt), .text(event?.time), .text(event?.product.rawValue),
             .text(event?.outcome.rawValue), .text(event?.code), .text(event?.environment.rawValue), .text(accepted.environment),
             .text(event?.record), .text(event?.customer), .text(event?.account), .text(event?.bank), .text(event?.shape.rawValue),
             .int(event == nil ? 1 : 0), .null, .blob(accepted.sealedBody), .text(accepted.topics), .int(Int64(accepted.bodyBytes)), .text("floor")])
    }

    /// Hands a committed batch's records to the publisher, in clear, from memory.
    private func publish(_ batch: [Accepted]) {
        let seq = seq
        unsent.withLock { unsent in
            for accepted in batch { unsent.records.append(contentsOf: accepted.records) }
            unsent.through = seq
        }
        committed.yield()
    }

    enum Value {
        case null, int(Int64), text(String?), blob([UInt8])
    }

    /// Runs a statement prepared once, its values bound through SQLite's C API.
    private func step(_ sql: String, _ values: [Value]) throws {
        let statement = try prepared(sql)
        defer { sqlite3_reset(statement); sqlite3_clear_bindings(statement) }
        for (index, value) in values.enumerated() {
            let slot = Int32(index + 1)
            switch value {
            case .null, .text(nil): sqlite3_bind_null(statement, slot)
            case .int(let number): sqlite3_bind_int64(statement, slot, number)
            case .text(let text?): sqlite3_bind_text(statement, slot, text, -1, Self.transient)
            case .blob(let bytes): _ = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, slot, $0.baseAddress, Int32($0.count), Self.transient) }
            }
        }
        guard sqlite3_step(statement) == SQLITE_DONE else { throw FloorError(String(cString: sqlite3_errmsg(db))) }
    }

    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
            throw FloorError(String(cString: sqlite3_errmsg(db)))
        }
        statements[sql] = statement
        return statement
    }

    private func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw FloorError(String(cString: sqlite3_errmsg(db))) }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// The publisher's mark, read by the writer.
final class DeliveredMark: @unchecked Sendable {
    private let lock = NSLock()
    private var through: Int64 = 0
    var value: Int64 { lock.withLock { through } }
    func set(_ seq: Int64) { lock.withLock { through = max(through, seq) } }
}

struct FloorError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A direct-mode request waiting for its records' reports.
typealias DirectWaiter = (deliveries: [KafkaDelivery], loop: any EventLoop, answer: @Sendable (Bool) -> Void)

/// A connection's webhooks: decided, sealed and handed to the writer on the event loop.
final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let floor: Floor
    private var authorized = false
    private var body: [UInt8] = []

    init(floor: Floor) { self.floor = floor }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            authorized = head.headers.first(name: "Okra-Auth") == floor.token
            body = []
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init) { body.reserveCapacity(length) }
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard authorized else { return Self.answer(context, .unauthorized, #"{"error":"unauthorized"}"#) }
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            floor.accept(body, on: context.eventLoop) { committed in
                Self.answer(bound.value, committed ? .ok : .serviceUnavailable,
                            committed ? #"{"status":"accepted"}"# : #"{"error":"unavailable"}"#)
            }
        }
    }

    static func answer(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ text: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
    }
}

/// What every connection shares: the token, the routes, the key, the writer.
final class Floor: Sendable {
    let token: String
    let routes: RouteTable
    let stage: Stage
    let key = SymmetricKey(size: .bits256)
    let writer: Writer
    /// Direct mode's producer, and where each request waits for its reports.
    let direct: (producer: KafkaProducer, waiting: AsyncStream<DirectWaiter>.Continuation)?

    init(token: String, routes: RouteTable, stage: Stage, writer: Writer,
         direct: (producer: KafkaProducer, waiting: AsyncStream<DirectWaiter>.Continuation)?) {
        self.token = token
        self.stage = stage
        self.direct = direct
        self.routes = routes
        self.writer = writer
    }

    func accept(_ body: [UInt8], on loop: any EventLoop, answer: @escaping @Sendable (Bool) -> Void) {
        let now = Date()
        let (event, records): (CanonicalEvent?, [RoutedRecord])
        switch decide(body: body, sender: VerifiedSender(environment: .production), receivedAt: now, routes: routes) {
        case .rejected(_, let deadLetter): (event, records) = (nil, [deadLetter])
        case .refused: return loop.execute { answer(false) }
        case .routed(let routed, let decision): (event, records) = (routed, decision.records)
        }
        if stage == .direct { return send(records, on: loop, answer: answer) }
        guard stage >= .sealed else { return answer(!records.isEmpty) }
        let id = event?.id ?? UUID().uuidString
        let sealed: [Accepted.Record] = records.map { record in
            let headers = "{" + record.headers.map { "\"\($0.name)\":\"\($0.value)\"" }.joined(separator: ",") + "}"
            // As the store keeps it: the body is in the entry, the record keeps the rest.
            let (form, kept) = StoreSchema.ValueForm.split(record.value, body: body)
            return Accepted.Record(topic: record.topic, key: record.key.map { Array($0.utf8) },
                                   headers: record.headers.map { KafkaHeader($0.name, $0.value) }, value: record.value,
                                   form: Int64(form.rawValue), sealed: seal(Array(headers.utf8) + kept))
        }
        let dedupeID = StoreSchema.okraIDBytes(id) ?? Array(id.utf8)
        let accepted = Accepted(dedupeID: dedupeID, environment: "production", event: event,
                               sealedBody: seal(body), topics: "[" + records.map { "\"\($0.topic)\"" }.joined(separator: ",") + "]",
                               bodyBytes: body.count, receivedAt: Int64(now.timeIntervalSince1970 * 1000), records: sealed, loop: loop, answer: answer)
        guard stage >= .handoff else { return answer(!accepted.sealedBody.isEmpty) }
        writer.submit(accepted)
    }

    /// Direct mode: the records sent now, the answer queued behind their reports.
    private func send(_ records: [RoutedRecord], on loop: any EventLoop, answer: @escaping @Sendable (Bool) -> Void) {
        guard let direct else { return answer(false) }
        var deliveries: [KafkaDelivery] = []
        for record in records {
            guard let delivery = try? direct.producer.send(topic: record.topic, key: record.key.map { Array($0.utf8) }, value: record.value,
                                                          headers: record.headers.map { KafkaHeader($0.name, $0.value) }) else { return answer(false) }
            deliveries.append(delivery)
        }
        direct.waiting.yield((deliveries, loop, answer))
    }

    /// Nonces as the store's are made: a random prefix drawn once, then a counter (no
    /// `getrandom` a seal).
    private let nonces = Mutex((prefix: UInt32.random(in: .min ... .max), counter: UInt64(0)))

    private func seal(_ bytes: [UInt8]) -> [UInt8] {
        let (prefix, counter) = nonces.withLock { state in
            state.counter += 1
            return (state.prefix, state.counter)
        }
        var nonceBytes = withUnsafeBytes(of: prefix.littleEndian, Array.init)
        withUnsafeBytes(of: counter.littleEndian) { nonceBytes.append(contentsOf: $0) }
        let nonce = try! AES.GCM.Nonce(data: nonceBytes)
        // swift-crypto's seal throws only for a nonce of the wrong size.
        return Array((try? AES.GCM.seal(bytes, using: key, nonce: nonce).combined) ?? Data())
    }
}

@main
struct OkraFloorBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 5, let port = Int(arguments[1]),
              let token = ProcessInfo.processInfo.environment["FLOOR_TOKEN"], !token.isEmpty else {
            FileHandle.standardError.write(Data("usage: FLOOR_TOKEN=... okra-floor-bench PORT DIR ROUTES BROKERS\n".utf8))
            exit(2)
        }
        let (directory, routes, brokers) = (arguments[2], try RouteTable.load(path: arguments[3]), arguments[4])
        guard let stage = Stage(rawValue: ProcessInfo.processInfo.environment["FLOOR_UPTO"] ?? "kafka") else {
            FileHandle.standardError.write(Data("okra-floor-bench: FLOOR_UPTO is one of decide, sealed, handoff, rows, synced, kafka, direct\n".utf8))
            exit(2)
        }
        let schema = try await bridgeSchema(in: directory + "/schema")
        var logger = Logger(label: "okra-floor-bench")
        logger.logLevel = .warning
        var configuration = KafkaProducerConfiguration(bootstrapServers: brokers)
        configuration.linger = .milliseconds(1)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let (commits, committed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let writer = try Writer(path: directory + "/floor.sqlite", schema: schema, stage: stage, committed: committed)
        let (waiters, waiting) = AsyncStream.makeStream(of: DirectWaiter.self)
        if stage != .direct { Thread { writer.run() }.start() }
        let floor = Floor(token: token, routes: routes, stage: stage, writer: writer, direct: stage == .direct ? (producer, waiting) : nil)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(FloorHandler(floor: floor))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        if stage == .direct {
            await answerDirect(waiters)
        } else {
            await publish(commits, from: writer, through: producer)
        }
        try await server.closeFuture.get()
    }

    /// Direct mode: one task for every request's reports, in arrival order (no task a request);
    /// with `FLOOR_DIRECT_WAIT=each`, a child task a request, each answered once its own reports
    /// are in (as the bridge's requests wait), so no request waits behind an earlier one's.
    static func answerDirect(_ waiters: AsyncStream<DirectWaiter>) async {
        @Sendable func answer(_ waiter: DirectWaiter) async {
            var delivered = true
            for delivery in waiter.deliveries where (try? await delivery.result()) == nil { delivered = false }
            waiter.loop.execute { waiter.answer(delivered) }
        }
        guard ProcessInfo.processInfo.environment["FLOOR_DIRECT_WAIT"] == "each" else {
            for await waiter in waiters { await answer(waiter) }
            return
        }
        await withDiscardingTaskGroup { group in
            for await waiter in waiters { group.addTask { await answer(waiter) } }
        }
    }

    /// The durable floor's publisher, a round at a time: everything committed since the last
    /// round is sent, its reports awaited, then the mark the writer deletes through is moved.
    /// `FLOOR_GATHER_MS` replaces the bridge's 20 ms pause (how much larger rounds would save).
    static func publish(_ commits: AsyncStream<Void>, from writer: Writer, through producer: KafkaProducer) async {
        let gather = Int(ProcessInfo.processInfo.environment["FLOOR_GATHER_MS"] ?? "") ?? 20
        for await _ in commits {
            let (records, through) = writer.unsent.withLock { unsent in
                defer { unsent.records = [] }
                return (unsent.records, unsent.through)
            }
            guard !records.isEmpty else { continue }
            var deliveries: [KafkaDelivery] = []
            deliveries.reserveCapacity(records.count)
            for record in records {
                if let delivery = try? producer.send(topic: record.topic, key: record.key, value: record.value, headers: record.headers) {
                    deliveries.append(delivery)
                }
            }
            for delivery in deliveries { _ = try? await delivery.result() }
            writer.delivered.set(through)
            // As the bridge's publisher: after a small round, 20 ms to gather the next.
            if records.count < 500 { try? await Task.sleep(for: .milliseconds(gather)) }
        }
    }

    /// The bridge's tables, indexes and triggers, as its store makes them in `directory`.
    static func bridgeSchema(in directory: String) async throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = try OutboxStore(directory: directory, reserveBytes: 0)
        var db: OpaquePointer?
        guard sqlite3_open_v2(directory + "/okra-bridge.sqlite", &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let db else {
            throw FloorError("cannot read the schema the store made in \(directory)")
        }
        defer { sqlite3_close(db) }
        var statement: OpaquePointer?
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid", -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        var schema: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW { schema.append(String(cString: sqlite3_column_text(statement, 0))) }
        return schema + ["INSERT OR IGNORE INTO publish_progress(one, published_through) VALUES (1, 0)"]
    }
}
