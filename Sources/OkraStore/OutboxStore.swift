import Foundation
import Synchronization
import GRDB
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting

/// The durable store of `--delivery durable`: a SQLite file (WAL, `synchronous=FULL`, so a
/// commit is on disk when it returns) holding the outbox of routed records, the publish mark,
/// and the dedupe index of event ids (``StoreSchema``).
///
/// Concurrent ``accept(eventID:records:receivedAt:)`` calls are committed together (group
/// commit): whoever arrives while a transaction is being written joins the next one, so one
/// fsync acknowledges many requests. Publishing moves a high-water mark: every record at or
/// below it was delivered, and leaves the file in the same transaction.
public final class OutboxStore: Sendable {
    /// What happened to an accepted request: stored, or a duplicate within the window.
    public typealias Acceptance = SinkAcceptance

    /// One stored record waiting to be published.
    public struct PendingRecord: Sendable, Equatable {
        /// Position in the outbox: publish order.
        public var seq: Int64
        /// The id of the event it belongs to (nil for a dead letter without one).
        public var eventID: String?
        /// The topic.
        public var topic: String
        /// The key (nil for none).
        public var key: [UInt8]?
        /// The headers, in order.
        public var headers: [(name: String, value: String)]
        /// The value.
        public var value: [UInt8]
        /// When it was stored (milliseconds since 1970).
        public var createdAtMilliseconds: Int64

        /// Equal in every field, headers compared pair by pair.
        public static func == (lhs: PendingRecord, rhs: PendingRecord) -> Bool {
            lhs.seq == rhs.seq && lhs.eventID == rhs.eventID && lhs.topic == rhs.topic && lhs.key == rhs.key
                && lhs.value == rhs.value && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
        }
    }

    /// A record the publisher parks as the mark passes it: Kafka refused it for good.
    public struct Parking: Sendable, Equatable {
        /// Its position in the outbox.
        public var seq: Int64
        /// A short, stable reason (`message_too_large`, `topic`, `authorization`, ...).
        public var reason: String
        /// The error, in one line.
        public var error: String

        /// The record at `seq`, refused for `reason` with `error`.
        public init(seq: Int64, reason: String, error: String) {
            self.seq = seq
            self.reason = reason
            self.error = error
        }
    }

    /// A parked record, as kept in the store: the record as it waited in the outbox, and why
    /// Kafka refused it.
    public struct ParkedRecord: Sendable {
        /// The record (its `seq` is its outbox position when it was parked).
        public var record: PendingRecord
        /// When it was parked (milliseconds since 1970).
        public var parkedAtMilliseconds: Int64
        /// Why, in short (see ``Parking/reason``).
        public var reason: String
        /// The error, in one line.
        public var error: String
    }

    /// The data volume is full; the request was not stored (answer 503 with Retry-After).
    public struct VolumeFull: Error, CustomStringConvertible {
        /// One line saying so.
        public var description: String { "the data volume is full; the store takes new events again once the publisher has freed space" }
    }

    /// The file was written by a newer bridge: its layout is not known here, and reading it as
    /// this one would publish records it does not understand (an outbox row of layout 4 may hold
    /// only an envelope's prefix), so the store refuses to open it and leaves it untouched.
    public struct NewerLayout: Error, CustomStringConvertible {
        /// The file's layout version.
        public let found: Int
        /// This bridge's layout version.
        public let supported: Int
        /// One line saying so and what to do.
        public var description: String {
            "the store file has layout version \(found), newer than this bridge's \(supported): run the newer version, or drain the store and start this one on a fresh --data-dir (docs/deploy.md, Upgrades)"
        }
    }

    /// The store is at its bound; the request was not stored (answer 503 with Retry-After).
    public struct Full: Error, CustomStringConvertible {
        /// The unpublished records it holds.
        public let pending: Int
        /// One line saying so.
        public var description: String { "the outbox holds \(pending) unpublished records, its bound" }
    }

    let pool: DatabasePool
    let volume: VolumeGuard
    let newRecords = WakeUp()
    let committer: GroupCommitter
    /// The newest committed records in clear: the publisher's rounds under load read them here.
    let recent: RecentRecords
    /// How many times ``pending(after:limit:maxBytes:)`` read the file (for tests).
    let fileReads = Atomic<Int>(0)
    /// The file's path.
    public let path: String
    /// The most unpublished records it holds before refusing new ones.
    public let maxPending: Int
    /// How long an id is remembered for dedupe.
    public let dedupeWindow: Duration
    /// The event log's retention; nil when it is off (`--retain 0`).
    public let eventLog: EventLogPolicy?
    /// How long the audit trail keeps an operator's action (`--audit-retain`), log on or off:
    /// the parked records' redrive, discard and erasure are audited either way.
    public let auditRetain: Duration
    /// What seals bodies, values and headers at rest; nil: kept in clear (`--log-unencrypted`).
    let cipher: StoreCipher?
    /// Whether an erasure waits for records still in the outbox (the file's `erasures` says which).
    let erasuresWaiting = Atomic<Bool>(false)

    /// When WAL checkpoints run. SQLite's automatic checkpoint (inside a commit, its requests
    /// waiting for it) is off: after a commit the store queues a pass on the writer's own
    /// connection, between two transactions, at most once an `interval`. A pass copies the whole
    /// WAL into the database file unless a reader still uses part of it, so the next commit starts
    /// the WAL over. Only the writer checkpoints: SQLite 3.7.0 to 3.51.2 (Debian 12 ships
    /// 3.40.1) can corrupt the file when a checkpoint on a second connection meets a commit that
    /// starts the WAL over (docs/decisions/0017-checkpoints-on-the-writer.md).
    public struct CheckpointPolicy: Sendable {
        /// The shortest time between the ends of two passes.
        public var interval: Duration = .milliseconds(25)
        /// WAL length in frames (pages) from which, when readers kept the last pass from copying
        /// all of it, the next pass waits for them (`RESTART`).
        public var restartFrames = 65536
        /// How long a `RESTART` pass waits for readers (the commits queued behind it wait as
        /// long); when they still hold the WAL, passes stay `PASSIVE` for `restartBackoff`.
        public var restartWait: Duration = .milliseconds(100)
        /// The time between two `RESTART` attempts that readers kept from finishing.
        public var restartBackoff: Duration = .seconds(1)

        /// The defaults above.
        public init() {}
    }

    /// What WAL checkpoints have done, for the upkeep's metrics and log lines. Waiting for
    /// readers is not counted; a checkpoint that failed otherwise (a full volume, an I/O error)
    /// is, and the WAL then grows until one succeeds. Attempts are counted: while the volume is
    /// short of room every webhook, and the upkeep's room check each second, tries to truncate
    /// the WAL.
    public struct CheckpointFailures: Sendable {
        /// Checkpoints that failed since the store opened.
        public var count = 0
        /// Whether the last checkpoint failed.
        public var failing = false
        /// The last failure's description.
        public var lastError: String?

        /// None yet.
        public init() {}
    }

    /// Opens (or creates) `directory/okra-bridge.sqlite`, upgrading a file of an earlier layout.
    /// - Parameters:
    ///   - busyTimeout: how long a statement waits for another connection's lock before failing
    ///     with `SQLITE_BUSY`.
    ///   - reserveBytes: space kept in a reserve file beside the store, released when the volume
    ///     fills so the store can still drain (``VolumeGuard``); 0 keeps none.
    ///   - auditRetain: how long the audit trail keeps a line.
    public convenience init(directory: String, maxPending: Int = 1_000_000, dedupeWindow: Duration = .seconds(73 * 3600),
                            checkpoints: CheckpointPolicy = CheckpointPolicy(), busyTimeout: TimeInterval = 10,
                            reserveBytes: Int = 8 << 20, eventLog: EventLogPolicy? = EventLogPolicy(),
                            auditRetain: Duration = .seconds(365 * 86400), cipher: StoreCipher? = nil) throws {
        try self.init(directory: directory, maxPending: maxPending, dedupeWindow: dedupeWindow, checkpoints: checkpoints,
                      busyTimeout: busyTimeout, reserveBytes: reserveBytes, eventLog: eventLog, auditRetain: auditRetain, cipher: cipher,
                      freeSpace: nil)
    }

    /// As above; `freeSpace` replaces the volume's free space as the store reads it, and
    /// `recentRecords` bounds ``RecentRecords`` (tests only).
    init(directory: String, maxPending: Int = 1_000_000, dedupeWindow: Duration = .seconds(73 * 3600),
         checkpoints: CheckpointPolicy = CheckpointPolicy(), busyTimeout: TimeInterval = 10,
         reserveBytes: Int = 8 << 20, eventLog: EventLogPolicy? = EventLogPolicy(), auditRetain: Duration = .seconds(365 * 86400),
         cipher: StoreCipher? = nil, freeSpace: (@Sendable () -> Int?)?, recentRecords: Int = 8192) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("okra-bridge.sqlite")
        let volume = VolumeGuard(directory: directory, reserveBytes: reserveBytes, freeSpace: freeSpace)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // Every connection asks for FULL; GRDB's WAL set-up turns the writer's back to
            // NORMAL after this, so ``requireFullSync(_:)`` sets it again once the pool is open.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Checkpoints are queued by the group committer between commits (CheckpointPolicy).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA journal_size_limit = \(128 << 20)")
            // Pages read through a map of the file rather than copied by read(2). The page cache
            // stays SQLite's 2 MiB: with 16 MiB, SQLite's sweeps of the cache (it empties a
            // connection's cache when the file changed under it) were 1 to 2% of the bridge's CPU
            // with the event log on, for no measured gain (docs/benchmarks.md).
            try db.execute(sql: "PRAGMA mmap_size = \(256 << 20)")
            // Deleted rows and freed pages are overwritten with zeros, so what retention, the
            // publisher or an erasure removed is gone from the file and, once checkpointed and
            // truncated, from the WAL (docs/privacy.md; its cost is in docs/benchmarks.md).
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // A row that INSERT OR REPLACE removes fires its delete triggers too, so the log's
            // search keys (``StoreSchema/logKeys``) leave with it.
            try db.execute(sql: "PRAGMA recursive_triggers = ON")
        }
        configuration.busyMode = .timeout(busyTimeout)
        let opened: (DatabasePool, StoreSchema.State)
        do {
            opened = try Self.open(path: path, configuration: configuration, cipher: cipher)
        } catch where VolumeGuard.isVolumeFull(error) {
            // A full volume: give the reserve back so the store opens and can drain.
            volume.releaseReserve()
            opened = try Self.open(path: path, configuration: configuration, cipher: cipher)
            volume.openedFull(pending: Int(opened.1.lastSeq - opened.1.publishedThrough))
        }
        let (pool, state) = opened
        self.pool = pool
        self.volume = volume
        if !volume.isFull { volume.ensureReserve() }
        self.maxPending = maxPending
        self.dedupeWindow = dedupeWindow
        self.eventLog = eventLog
        self.auditRetain = auditRetain
        self.cipher = cipher
        erasuresWaiting.store(state.erasuresWaiting, ordering: .relaxed)
        recent = RecentRecords(next: state.lastSeq + 1, maxRecords: recentRecords)
        committer = GroupCommitter(pool: pool, policy: checkpoints, busyTimeout: busyTimeout, state: state, volume: volume,
                                   maxPending: maxPending, windowMilliseconds: Int64(dedupeWindow.components.seconds) * 1000,
                                   recent: recent, cipher: cipher)
    }

    private static func open(path: String, configuration: Configuration, cipher: StoreCipher?) throws -> (DatabasePool, StoreSchema.State) {
        let pool = try DatabasePool(path: path, configuration: configuration)
        try requireFullSync(pool)
        let state = try pool.write { db in
            let state = try StoreSchema.prepare(db)
            try StoreSchema.checkKeys(db, cipher: cipher)
            return state
        }
        return (pool, state)
    }

    /// The ids of the keys the file at `directory` has values sealed with (and still uses): what
    /// `--log-key-file` must hold. Read without opening the store for writing (`check`); empty
    /// when there is no store yet.
    public static func keyIDsInUse(directory: String) throws -> [String] {
        let path = (directory as NSString).appendingPathComponent("okra-bridge.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        return try queue.read { db in
            guard try db.tableExists("cipher_keys") else { return [] }
            return try String.fetchAll(db, sql: "SELECT key_id FROM cipher_keys").filter { try StoreSchema.isKeyInUse(db, $0) }
        }
    }

    /// Whether the file at `directory` holds a body, value or headers in clear (written without a
    /// key, or before one was given): `check` says so when a key file is given.
    public static func hasValuesInClear(directory: String) throws -> Bool {
        let path = (directory as NSString).appendingPathComponent("okra-bridge.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { return false }
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: path, configuration: configuration).read { db in
            let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info('event_log')").map { $0["name"] as String }
            guard columns.contains("key_id") else { return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM records)") ?? false }
            return try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM event_log WHERE key_id IS NULL) OR EXISTS (SELECT 1 FROM records WHERE key_id IS NULL)
                    OR EXISTS (SELECT 1 FROM parked WHERE key_id IS NULL)
                """) ?? false
        }
    }

    /// The first key id the file at `directory` uses whose key in `cipher` does not open a value
    /// sealed under it (another key given the same id); nil when all open (`check`).
    public static func keyThatDoesNotOpen(directory: String, cipher: StoreCipher) throws -> String? {
        let path = (directory as NSString).appendingPathComponent("okra-bridge.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: path, configuration: configuration).read { db in try StoreSchema.keyThatDoesNotOpen(db, cipher) }
    }

    /// A key of the file with the id of a key in use, but other bytes: the store refuses to open.
    public struct WrongKey: Error, CustomStringConvertible {
        /// The key's id.
        public let keyID: String
        /// One line, naming the id.
        public var description: String {
            "the key \(keyID) of --log-key-file does not open the values sealed under that id: it is another key with the same id; give the key they were sealed with"
        }
    }

    /// A key id in use that the key file does not hold (or a store with sealed values opened
    /// without a key file): the store refuses to open, naming it.
    public struct MissingKey: Error, CustomStringConvertible {
        /// The key's id.
        public let keyID: String
        /// One line, naming the id.
        public var description: String {
            "values in the store are sealed under key \(keyID), which --log-key-file does not hold: add its line back (a key is removed only once nothing uses it)"
        }
    }

    /// `stored` opened with the key `keyID` (nil: it is in clear), as bytes.
    static func opened(_ stored: Data?, _ purpose: StoreCipher.Purpose, keyID: String?, cipher: StoreCipher?) throws -> [UInt8] {
        guard let stored else { return [] }
        guard let keyID else { return Array(stored) }
        guard let cipher else { throw StoreCipherFailure.missingKey(keyID) }
        return try cipher.open(stored, purpose, keyID: keyID)
    }

    /// The writer commits with `synchronous=FULL`, so a commit returns only once its WAL frames
    /// are synced. It is set here, on the writer, after the pool is open: `prepareDatabase` runs
    /// before GRDB turns WAL mode on, and GRDB's WAL set-up then sets `synchronous=NORMAL` on the
    /// writer (a commit's frames would wait for the next checkpoint's sync, and a power cut would
    /// lose acknowledged webhooks). The value is read back through the writer itself (a reader
    /// connection keeps its own); anything but FULL refuses to open the store.
    static func requireFullSync(_ pool: DatabasePool) throws {
        let level = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return try Int.fetchOne(db, sql: "PRAGMA synchronous")
        }
        guard level == 2 else { throw NotSynchronous(found: level) }
    }

    /// The writer does not sync its commits: the store would acknowledge what a power cut loses.
    public struct NotSynchronous: Error, CustomStringConvertible {
        /// What `PRAGMA synchronous` read back on the writer (2 is FULL).
        public let found: Int?
        /// One line saying so.
        public var description: String {
            "the store's writer reads back synchronous=\(found.map(String.init) ?? "nothing"), not FULL (2): commits would not be synced before the 200, so the store refuses to open"
        }
    }

    /// Whether the data volume is full: new events are refused until a write succeeds again or
    /// a room check (a webhook's, or the upkeep's every second) finds room.
    public var volumeIsFull: Bool { volume.isFull }

    /// Marks a volume found full as having room once it has, with no webhook to find it; the
    /// upkeep calls it every second (``GroupCommitter/recheckRoom()``).
    public func recheckRoom() async {
        await committer.recheckRoom()
    }

    /// Makes the reserve file again once the volume has room (the publisher calls it now and then).
    public func maintainReserve() {
        if !volume.isFull { volume.ensureReserve() }
    }

    /// Stores an event's records durably (or recognizes a duplicate id) and returns once the
    /// transaction is on disk. A nil id (a dead letter without one) is never a duplicate; an id
    /// is a duplicate only of one seen in the same `environment` (the token's: §2).
    /// - Throws: ``Full`` at the bound, ``VolumeFull`` while the data volume is full; a database
    ///   error if the disk fails.
    /// With the event log on, `provenance` becomes its entry, in the same transaction.
    public func accept(eventID: String?, environment: OkraEnvironment = .unknown, records: [RoutedRecord], receivedAt: Date,
                       provenance: Provenance? = nil) async throws -> Acceptance {
        let milliseconds = Int64(receivedAt.timeIntervalSince1970 * 1000)
        let log = try eventLog == nil ? nil : provenance.map { provenance throws(StoreCipherFailure) in
            try EventLogRow(provenance: provenance, records: records, receivedAtMilliseconds: milliseconds, id: eventID, cipher: cipher)
        }
        var stored: [StoredRecord] = []
        stored.reserveCapacity(records.count)
        var forms: [StoreSchema.ValueForm]?
        if let log {
            // Split (and sealed) here, on the request's task, not in the store's one writer: each
            // record keeps only what its value has beside the body the entry holds (StoreSchema.ValueForm).
            forms = try records.map { record throws(StoreCipherFailure) in
                let (form, kept) = StoreSchema.ValueForm.split(record.value, body: log.body)
                stored.append(try StoredRecord(record, value: kept, eventID: eventID, createdAtMilliseconds: milliseconds, cipher: cipher))
                return form
            }
        } else {
            for record in records {
                stored.append(try StoredRecord(record, value: record.value, eventID: eventID, createdAtMilliseconds: milliseconds, cipher: cipher))
            }
        }
        let outcome = try await committer.submit(.webhook(.init(eventID: eventID, environment: environment.rawValue, records: stored,
                                                                receivedAtMilliseconds: milliseconds, log: log, valueForms: forms)))
        if outcome == .accepted && !records.isEmpty { newRecords.signal() }
        return outcome
    }

    /// Returns when records were stored since the last call returned, or after `timeout`:
    /// the publisher waits here instead of polling an empty outbox.
    public func waitForNewRecords(timeout: Duration) async {
        await newRecords.wait(timeout: timeout)
    }

    /// The publish mark: every record with `seq` at or below it was delivered.
    public var publishedThrough: Int64 { get async { await committer.publishedThrough } }

    /// Unpublished records after `seq`, oldest first: at most `limit` of them and, past the
    /// first, at most `maxBytes` of values, keys and headers together (a round's memory is
    /// bounded by bytes, not only by count).
    /// Records committed since the publisher's last round come from memory (``RecentRecords``);
    /// the file is read for what is not there.
    public func pending(after seq: Int64, limit: Int, maxBytes: Int = .max) async throws -> [PendingRecord] {
        if let records = recent.records(after: seq, limit: limit, maxBytes: maxBytes) { return records }
        fileReads.add(1, ordering: .relaxed)
        return try await pool.read { db in
            // Columns by position, blobs without an intermediate copy: by name, GRDB compares
            // lowercased copies of every column name, which cost more than the rest of the read.
            // A record whose body is in its log entry gets it back here (StoreSchema.ValueForm).
            let rows = try Row.fetchCursor(db.cachedStatement(sql: """
                SELECT r.seq, r.event_id, r.topic, r.key, r.headers, r.value, r.created_at, r.key_id, r.value_form, l.body, l.key_id
                FROM records r LEFT JOIN event_log l ON l.entry = r.body_entry
                WHERE r.seq > ? ORDER BY r.seq LIMIT ?
                """), arguments: [seq, limit])
            var records: [PendingRecord] = []
            records.reserveCapacity(min(limit, 4096))
            var bytes = 0
            while let row = try rows.next() {
                var record = try Self.pendingRecord(row, cipher: self.cipher)
                let form: Int = row[8]
                if form != StoreSchema.ValueForm.whole.rawValue {
                    let body = try Self.opened(row.dataNoCopy(atIndex: 9), .body, keyID: row[10], cipher: self.cipher)
                    record.value = StoreSchema.ValueForm.join(record.value, form: form, body: body)
                }
                let size = record.size
                if !records.isEmpty && bytes + size > maxBytes { break }
                bytes += size
                records.append(record)
            }
            return records
        }
    }

    /// Moves the publish mark to `seq` (every record up to it was delivered or is in
    /// `parking`), moves the `parking` records to the parked table and deletes the records the
    /// mark passes, in one transaction. A mark at or below the current one changes nothing.
    public func markPublished(through seq: Int64, parking: [Parking] = [], now: Date = Date()) async throws {
        try await committer.markPublished(through: seq, parking: parking, now: Int64(now.timeIntervalSince1970 * 1000))
    }

    /// How many records are parked.
    public var parkedCount: Int { get async { await committer.parked } }

    /// What WAL checkpoints have done since the store opened (``CheckpointFailures``).
    public var checkpointFailures: CheckpointFailures { get async { await committer.checkpointFailures } }

    /// Parked records, oldest first.
    public func parked(limit: Int = 1000) async throws -> [ParkedRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, event_id, topic, key, headers, value, created_at, key_id, parked_at, reason, error FROM parked ORDER BY seq LIMIT ?
                """, arguments: [limit]).map { row in
                ParkedRecord(record: try Self.pendingRecord(row, cipher: self.cipher), parkedAtMilliseconds: row[8], reason: row[9], error: row[10])
            }
        }
    }

    /// Unpublished records, and the age of the oldest in seconds (0 when none).
    public func depth(now: Date = Date()) async throws -> (count: Int, oldestAgeSeconds: Double) {
        let (count, mark) = await committer.counts
        guard count > 0 else { return (0, 0) }
        let oldest = try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT created_at FROM records WHERE seq > ? ORDER BY seq LIMIT 1", arguments: [mark])
        }
        return (count, oldest.map { max(0, now.timeIntervalSince1970 - Double($0) / 1000) } ?? 0)
    }

    /// What the store holds now, as its gauges and `GET /admin/status` show it; the outbox's
    /// depth is nil when the file cannot be read, and the rest is known all the same.
    public func status() async -> StoreStatus {
        let outbox = try? await depth()
        return StoreStatus(outbox: outbox.map { ($0.count, $0.oldestAgeSeconds) }, parked: await parkedCount, storeBytes: fileBytes,
                           walBytes: walBytes, eventLogBytes: await eventLogBytes, volume: volumeUsage, volumeFull: volumeIsFull)
    }

    /// The store's size on disk: the SQLite file and its WAL, in bytes.
    public var fileBytes: Int {
        [path, path + "-wal"].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
    }

    /// The data volume's used and free bytes (free: what an unprivileged writer may still use), or nil.
    public var volumeUsage: (used: Int, free: Int)? {
        volume.usage().map { (max(0, $0.total - $0.free), $0.free) }
    }

    /// The size of SQLite's WAL file in bytes (0 when there is none): it should level off under
    /// load (decision 0017); one that keeps growing means checkpoints cannot finish.
    public var walBytes: Int {
        (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
    }

    /// Deletes ids older than the dedupe window (or the log's retention, when longer: the log
    /// finds entries by id through them), log entries past `--retain` or beyond `--retain-size`
    /// (oldest first), and redriven or discarded parked rows past `--retain`; a thousand rows
    /// per transaction (log entries: ``GroupCommitter/logSliceEntries``), so webhooks are not
    /// held up behind one long delete. Returns how many rows it removed.
    @discardableResult
    public func prune(now: Date = Date()) async throws -> Int {
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        let window = Int64(dedupeWindow.components.seconds) * 1000
        let idHorizon = nowMilliseconds - max(window, eventLog?.retainMilliseconds ?? 0)
        var removed = try await deleteInSlices("""
            DELETE FROM event_ids WHERE (env, id) IN
            (SELECT env, id FROM event_ids WHERE received_at < ? ORDER BY received_at LIMIT 1000)
            """, idHorizon)
        let logHorizon = nowMilliseconds - (eventLog?.retainMilliseconds ?? 0)
        removed += try await committer.pruneLog(olderThan: logHorizon, maxBytes: eventLog?.retainBytes ?? 0)
        removed += try await deleteInSlices("""
            DELETE FROM parked WHERE seq IN (SELECT seq FROM parked
            WHERE (redriven_to IS NOT NULL OR discarded_at IS NOT NULL) AND parked_at < ? ORDER BY seq LIMIT 1000)
            """, logHorizon)
        removed += try await pruneAudit(now: nowMilliseconds)
        return removed
    }

    private func deleteInSlices(_ sql: String, _ horizon: Int64) async throws -> Int {
        var removed = 0
        while true {
            let deleted = try await committer.maintenanceWrite { db in
                try db.execute(sql: sql, arguments: [horizon])
                return db.changesCount
            }
            removed += deleted
            if deleted < 1000 { return removed }
        }
    }

    /// How many transactions group commit has written (for tests and benchmarks).
    public var commitCount: Int { get async { await committer.commits } }

    /// A record from the columns `seq, event_id, topic, key, headers, value, created_at, key_id`,
    /// read by position, blobs without an intermediate copy; headers and value opened when sealed.
    static func pendingRecord(_ row: Row, cipher: StoreCipher?) throws -> PendingRecord {
        let keyID: String? = row[7]
        let headers: [(name: String, value: String)]
        if keyID == nil {
            headers = decodeHeaders(row[4])
        } else {
            headers = decodeHeaders(String(decoding: try opened(row.dataNoCopy(atIndex: 4), .headers, keyID: keyID, cipher: cipher), as: UTF8.self))
        }
        return PendingRecord(
            seq: row[0], eventID: row[1], topic: row[2],
            key: row.dataNoCopy(atIndex: 3).map { Array($0) },
            headers: headers,
            value: keyID == nil ? row.dataNoCopy(atIndex: 5).map { Array($0) } ?? [] : try opened(row.dataNoCopy(atIndex: 5), .value, keyID: keyID, cipher: cipher),
            createdAtMilliseconds: row[6]
        )
    }

    /// Headers as a JSON array of `[name, value]` pairs.
    static func encodeHeaders(_ headers: [(name: String, value: String)]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, header) in headers.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            JSONWriter.writeString(header.name, into: &out)
            out.append(UInt8(ascii: ","))
            JSONWriter.writeString(header.value, into: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeHeaders(_ text: String) -> [(name: String, value: String)] {
        guard case .array(let pairs)? = try? JSONParser.parse(Array(text.utf8)).value else { return [] }
        return pairs.compactMap { pair in
            guard case .array(let parts) = pair, parts.count == 2, case .string(let name) = parts[0], case .string(let value) = parts[1] else { return nil }
            return (name, value)
        }
    }
}
