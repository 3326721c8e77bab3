import Foundation
import GRDB
import GRDBSQLite
import OkraIngest
import OkraOperations
import OkraRouting

/// The store's one writer. Batches concurrent submissions into one transaction each (group
/// commit), hands out record sequence numbers, and keeps the counts the bound is checked
/// against: records are numbered without gaps, so the unpublished ones are exactly those
/// between the publish mark and the last number handed out.
///
/// It also schedules WAL checkpoints (``OutboxStore/CheckpointPolicy``) on the writer's
/// connection, between transactions, rather than inside a commit as SQLite would, the requests of
/// that batch waiting for pages to be copied and the database file synced.
actor GroupCommitter {
    private let pool: DatabasePool
    private let maxPending: Int
    private let windowMilliseconds: Int64
    private var queued: [(Submission, CheckedContinuation<OutboxStore.Acceptance, any Error>)] = []
    /// Records submitted but not yet committed (queued, or in the transaction being written):
    /// counted against `maxPending`, so concurrent submissions cannot overshoot the bound.
    private var uncommittedRecords = 0
    private var writing = false
    /// The highest sequence number committed.
    private var lastSeq: Int64
    /// Every record at or below it was delivered (or parked).
    private(set) var publishedThrough: Int64
    /// Records in the `parked` table, neither redriven nor discarded.
    private(set) var parked: Int
    /// The last event log entry number handed out.
    private var lastEntry: Int64
    /// The event log's size, as its rows count it (``EventLogRow/bytes``).
    private(set) var logBytes: Int64
    private(set) var commits = 0
    /// What seals parked values (a parked record is sealed again whole, under its own key).
    private let cipher: StoreCipher?
    private let policy: OutboxStore.CheckpointPolicy
    /// The writer's busy timeout, restored after a `RESTART` pass's shorter one.
    private let busyTimeout: TimeInterval
    private var checkpointQueued = false
    private var lastCheckpointEnded = ContinuousClock.now
    /// Set when readers kept the last pass from copying a WAL of `restartFrames` or more: the
    /// next pass is then a `RESTART`, unless one gave up less than `restartBackoff` ago (until
    /// `nextRestart`).
    private var restartWanted = false
    private var nextRestart = ContinuousClock.now
    /// Checkpoints that failed other than by waiting for readers (``noteCheckpoint(_:)``).
    private(set) var checkpointFailures = OutboxStore.CheckpointFailures()

    private let volume: VolumeGuard
    /// Where each committed batch's records go, in clear, for the publisher.
    private let recent: RecentRecords

    init(pool: DatabasePool, policy: OutboxStore.CheckpointPolicy, busyTimeout: TimeInterval = 10, state: StoreSchema.State,
         volume: VolumeGuard, maxPending: Int, windowMilliseconds: Int64, recent: RecentRecords, cipher: StoreCipher? = nil) {
        self.cipher = cipher
        self.recent = recent
        self.volume = volume
        self.pool = pool
        self.policy = policy
        self.busyTimeout = busyTimeout
        self.lastSeq = state.lastSeq
        self.publishedThrough = state.publishedThrough
        self.parked = state.parked
        self.lastEntry = state.lastEntry
        self.logBytes = state.logBytes
        self.maxPending = maxPending
        self.windowMilliseconds = windowMilliseconds
    }

    /// Submissions waiting for the next batch, and whether a batch is being written (tests wait on them).
    var queue: (waiting: Int, writing: Bool) { (queued.count, writing) }

    /// Unpublished records, and the publish mark.
    var counts: (pending: Int, publishedThrough: Int64) { (Int(lastSeq - publishedThrough), publishedThrough) }

    func submit(_ submission: Submission) async throws -> OutboxStore.Acceptance {
        let pending = Int(lastSeq - publishedThrough)
        if pending + uncommittedRecords + submission.recordCount > maxPending {
            throw OutboxStore.Full(pending: pending + uncommittedRecords)
        }
        // Taken with the check, before the volume check's await: the actor is reentrant there, and
        // submissions passing the check meanwhile must see these records as on their way in.
        uncommittedRecords += submission.recordCount
        if volume.reserveBytes > 0 {
            guard await hasRoom() else {
                uncommittedRecords -= submission.recordCount
                volume.noRoom(pending: pending)
                throw OutboxStore.VolumeFull()
            }
            volume.room()
        } else {
            guard volume.admit(pending: pending) else {
                uncommittedRecords -= submission.recordCount
                throw OutboxStore.VolumeFull()
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            enqueue(submission, continuation)
        }
    }

    /// Queues `submission` for the next batch, and starts writing if the writer is idle.
    private func enqueue(_ submission: Submission, _ continuation: CheckedContinuation<OutboxStore.Acceptance, any Error>) {
        queued.append((submission, continuation))
        if !writing {
            writing = true
            Task { await self.drain() }
        }
    }

    func markPublished(through seq: Int64, parking: [OutboxStore.Parking], now: Int64) async throws {
        let target = min(seq, lastSeq)
        guard target > publishedThrough else { return }
        // Nothing to park and room on the volume: the mark rides with the next batch of
        // webhooks (one transaction, one sync for both). On a full volume it stays a write of
        // its own, after which the WAL is truncated so what it freed is free on the volume.
        if !parking.contains(where: { $0.seq > publishedThrough && $0.seq <= target }) && !volume.isFull {
            _ = try await withCheckedThrowingContinuation { continuation in
                enqueue(.mark(.init(through: target)), continuation)
            }
            return
        }
        let parking = parking.filter { $0.seq > publishedThrough && $0.seq <= target }
        let cipher = cipher
        let added = try await maintenanceWrite { db -> Int in
            // The parked records leave the outbox in the same transaction as the mark passes them.
            // A parked record keeps its whole value: its entry may be pruned long before it is redriven.
            let park = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO parked(seq, event_id, topic, key, headers, value, created_at, parked_at, reason, error, key_id, customer)
                SELECT seq, event_id, topic, key, headers, ?, created_at, ?, ?, ?, key_id, ? FROM records WHERE seq = ?
                """)
            var added = 0
            for record in parking {
                guard let row = try Row.fetchOne(db, sql: """
                    SELECT r.value, r.value_form, l.body, r.key_id, l.key_id, r.event_id FROM records r LEFT JOIN event_log l ON l.entry = r.body_entry WHERE r.seq = ?
                    """, arguments: [record.seq]) else { continue }
                // Opened, made whole and sealed again under the record's key (its headers stay as they are).
                let keyID: String? = row[3]
                let kept = try OutboxStore.opened(row[0] as Data?, .value, keyID: keyID, cipher: cipher)
                let body = try (row[2] as Data?).map { body in try OutboxStore.opened(body, .body, keyID: row[4], cipher: cipher) }
                let whole = StoreSchema.ValueForm.join(kept, form: row[1], body: body)
                let value: Data = if let keyID, let cipher { try cipher.seal(whole, .value, keyID: keyID) } else { Data(whole) }
                // The customer of its entry (by the dedupe index: the id is its key), for an erasure.
                let customer = try (row[5] as String?).flatMap { id in
                    try String.fetchOne(db, sql: "SELECT l.customer FROM event_ids i JOIN event_log l ON l.entry = i.entry WHERE i.id = ? LIMIT 1",
                                        arguments: [StoreSchema.storedID(id)])
                }
                try park.execute(arguments: [value, now, record.reason, record.error, customer, record.seq])
                added += db.changesCount
            }
            try db.execute(sql: StoreSchema.SQL.movePublishMark, arguments: [target])
            try db.execute(sql: StoreSchema.SQL.deletePublished, arguments: [target])
            return added
        }
        publishedThrough = max(publishedThrough, target)
        recent.drop(through: publishedThrough)
        parked += added
    }

    /// The entries one retention transaction removes at most. Every webhook's commit waits
    /// behind the transaction in progress, and one of a thousand entries (with `secure_delete`
    /// zeroing what it frees, and the log's indexes) held them for up to 0.25 s; a pass is many
    /// short transactions instead, with the webhooks' commits between them.
    static let logSliceEntries = 128

    /// The entries one transaction of retention removes, below the first entry an unpublished
    /// record still reads (the first argument): the lowest ``logSliceEntries``, and when pruning
    /// by age (the second argument, a `recorded_at` horizon) only those of them past it. Entries
    /// are numbered in commit order, which follows the time they were recorded, so the oldest
    /// are the lowest; a transaction never looks further, however long the log is. Searching
    /// the whole log for old entries read every row, bodies and all, on the writer, once a
    /// minute: every webhook waited for it. After the clock steps back, the entries recorded
    /// after the step wait behind those stamped before it (decision 0009).
    static func logPruneSlice(bySize: Bool) -> String {
        let lowest = "SELECT entry, recorded_at FROM event_log WHERE entry < ? ORDER BY entry LIMIT \(logSliceEntries)"
        return bySize ? "SELECT entry FROM (\(lowest))" : "SELECT entry FROM (\(lowest)) WHERE recorded_at < ?"
    }

    /// Deletes the oldest entries while the log is over `maxBytes`, then (given a `horizon`)
    /// those recorded before it, ``logSliceEntries`` per transaction; stops after the
    /// transaction that ends past `deadline`, if one is given. Returns how many.
    func pruneLog(olderThan horizon: Int64?, maxBytes: Int64, until deadline: ContinuousClock.Instant? = nil) async throws -> Int {
        var removed = 0
        while true {
            if let deadline, removed > 0, ContinuousClock.now >= deadline { return removed }
            let over = logBytes > maxBytes
            guard over || horizon != nil else { return removed }
            let (count, bytes) = try await maintenanceWrite { db -> (Int, Int64) in
                // Never an entry whose body an unpublished record still reads (the oldest such
                // record has the lowest entry: entries and records are numbered in one order).
                let kept = try Int64.fetchOne(db, sql: "SELECT body_entry FROM records WHERE body_entry IS NOT NULL ORDER BY seq LIMIT 1") ?? .max
                let arguments: StatementArguments = over ? [kept] : [kept, horizon ?? .min]
                let slice = Self.logPruneSlice(bySize: over)
                let bytes = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM event_log WHERE entry IN (\(slice))", arguments: arguments) ?? 0
                try db.execute(sql: "DELETE FROM event_log_replays WHERE entry IN (\(slice))", arguments: arguments)
                try db.execute(sql: "DELETE FROM event_log WHERE entry IN (\(slice))", arguments: arguments)
                return (db.changesCount, bytes)
            }
            logBytes -= bytes
            removed += count
            // Nothing left to remove below the first unpublished record, or by age none past the horizon.
            if count == 0 || (!over && count < Self.logSliceEntries) { return removed }
        }
    }

    /// Marks parked records discarded; returns how many were still parked.
    func discard(_ selection: ParkedSelection, now: Int64) async throws -> Int {
        let changed = try await maintenanceWrite { db -> Int in
            let base = "UPDATE parked SET discarded_at = ? WHERE redriven_to IS NULL AND discarded_at IS NULL"
            switch selection {
            case .all:
                try db.execute(sql: base, arguments: [now])
            case .ids(let ids):
                // In chunks well under SQLite's limit on variables a statement takes.
                var changed = 0
                for chunk in ids.chunked(500) {
                    try db.execute(sql: base + " AND seq IN (\(chunk.map { _ in "?" }.joined(separator: ",")))",
                                   arguments: StatementArguments([now] + Array(chunk)))
                    changed += db.changesCount
                }
                return changed
            }
            return db.changesCount
        }
        parked -= changed
        return changed
    }

    /// Removes the log entries of `customer` whose records are all out of the outbox (their
    /// replays and parked records with them), the parked records that name the customer (their
    /// entry may be pruned long before), and the dead letters whose body holds the customer's id
    /// (opened to look); remembers the customer while some entries still wait for delivery
    /// (forgets it once none do). The dedupe index keeps the ids (hashes of Okra's ids), without
    /// their entry. The WAL is truncated after; when a reader keeps it from that,
    /// ``truncateWanted`` says so and the store's upkeep tries again.
    func erase(customer: String, now: Int64) async throws -> Erasure {
        let cipher = cipher
        let (erasure, bytes, parkedRemoved) = try await maintenanceWrite { db in
            var write = ErasureWrite(db: db, customer: customer, cipher: cipher)
            return try write.run(now: now)
        }
        logBytes -= bytes
        parked -= erasure.parked
        if erasure.erased > 0 || parkedRemoved > 0 { truncateWanted = true }
        await truncateWALIfWanted()
        return erasure
    }

    /// Set by an erasure until the WAL, which holds earlier images of the pages it zeroed, has
    /// been copied into the file and truncated.
    private(set) var truncateWanted = false

    /// Copies the WAL into the file and truncates it if an erasure wants it; false when a
    /// reader kept it from finishing (tried again by the store's upkeep).
    @discardableResult
    func truncateWALIfWanted() async -> Bool {
        guard truncateWanted else { return true }
        do {
            let (walFrames, _) = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            truncateWanted = walFrames != 0
            noteCheckpoint(nil)
        } catch {
            truncateWanted = true
            noteCheckpoint(error)
        }
        return !truncateWanted
    }

    /// A write other than a batch of submissions (marks, pruning), with the same checkpoint
    /// scheduling, so that a period of marks alone (the publisher catching up after an outage)
    /// cannot grow the WAL either.
    func maintenanceWrite<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result: T
        do {
            result = try await pool.write(updates)
        } catch {
            volume.writeFailed(error, pending: Int(lastSeq - publishedThrough))
            await truncateWALIfFull()
            throw error
        }
        scheduleCheckpoint()
        await truncateWALIfFull()
        return result
    }

    /// The check a webhook makes on a volume found full, made without one (the upkeep calls it
    /// every second): once there is room the volume is marked so, and the bridge is ready again.
    /// Behind a Service that routes only to ready pods, no webhook would come to find the room.
    /// With no reserve, a write's success is the only sign of room: nothing is checked here.
    func recheckRoom() async {
        guard volume.reserveBytes > 0, volume.isFull else { return }
        if await hasRoom() { volume.room() }
    }

    /// Whether the volume has room for more than the reserve: its free space, and when that is
    /// short, the pages free inside the database file (records the publisher deleted), which new
    /// records reuse.
    ///
    /// Short of room, the WAL is copied into the file and truncated before looking again: a WAL
    /// left long (its last truncation met a reader) holds space no mark frees, and with every
    /// new event refused no write would come to truncate it, so the store stayed full after the
    /// publisher had drained it.
    private func hasRoom() async -> Bool {
        if await roomNow() { return true }
        await truncateWAL()
        return await roomNow()
    }

    private func roomNow() async -> Bool {
        guard let free = volume.availableBytes() else { return true }
        if free >= volume.reserveBytes { return true }
        let inside = (try? await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT freelist_count * page_size FROM pragma_freelist_count(), pragma_page_size()")
        }) ?? nil
        return free + (inside ?? 0) >= volume.reserveBytes
    }

    /// On a full volume, copies the whole WAL into the database file and truncates it, so what
    /// a mark freed becomes free space on the volume and the next mark has room (the reserve
    /// covers the file's growth meanwhile).
    private func truncateWALIfFull() async {
        guard volume.isFull else { return }
        await truncateWAL()
    }

    /// Copies the whole WAL into the file and truncates it, if no reader holds part of it.
    private func truncateWAL() async {
        do {
            _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            noteCheckpoint(nil)
        } catch {
            noteCheckpoint(error)
        }
    }

    /// Keeps what checkpoints do for the upkeep to count and log (nil: one succeeded). Waiting
    /// for readers (`SQLITE_BUSY`, a `RESTART` or `TRUNCATE` they held back) is no failure;
    /// anything else is (a full volume, an I/O error): the WAL then grows until one succeeds.
    /// The volume guard is left to the commits and the room checks: a failed checkpoint says
    /// nothing of the room a new event needs, so it does not make the store unready.
    private func noteCheckpoint(_ error: (any Error)?) {
        guard let error else { return checkpointFailures.failing = false }
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_BUSY { return }
        checkpointFailures.count += 1
        checkpointFailures.failing = true
        checkpointFailures.lastError = "\(error)"
    }

    /// After a commit: queues a checkpoint pass unless one ended within the interval.
    ///
    /// The pass runs on the writer's connection, so no commit can run beside it: SQLite 3.7.0
    /// to 3.51.2 (Debian 12 ships 3.40.1) can corrupt the file when a checkpoint on another
    /// connection starts after the whole WAL was copied while a commit starts the WAL over
    /// (SQLite's "WAL-reset bug"). With one connection for both, that cannot happen.
    private func scheduleCheckpoint() {
        guard !checkpointQueued, ContinuousClock.now - lastCheckpointEnded >= policy.interval else { return }
        checkpointQueued = true
        Task { await self.checkpoint() }
    }

    /// One pass: `PASSIVE`, or `RESTART` when readers held back a long WAL last time. Its WAL
    /// length and frames copied; nil when it failed.
    ///
    /// A `RESTART` waits for readers through SQLite's busy handler, on the writer: it gets
    /// `restartWait` instead of the connection's busy timeout, so readers that stay (an export
    /// streaming the log) hold the commits that long at most, once every `restartBackoff`.
    @discardableResult
    func checkpoint() async -> (walFrameCount: Int, checkpointedFrameCount: Int)? {
        let restart = restartWanted && ContinuousClock.now >= nextRestart
        let (wait, busy) = (Self.milliseconds(policy.restartWait), Self.milliseconds(.seconds(busyTimeout)))
        let result: (walFrameCount: Int, checkpointedFrameCount: Int)?
        do {
            result = try await pool.writeWithoutTransaction { db in
                guard restart else { return try db.checkpoint(.passive) }
                sqlite3_busy_timeout(db.sqliteConnection, wait)
                defer { sqlite3_busy_timeout(db.sqliteConnection, busy) }
                return try db.checkpoint(.restart)
            }
            noteCheckpoint(nil)
        } catch {
            result = nil
            noteCheckpoint(error)
        }
        if let result {
            restartWanted = result.checkpointedFrameCount < result.walFrameCount && result.walFrameCount >= policy.restartFrames
        } else if restart {
            nextRestart = .now + policy.restartBackoff
        }
        checkpointQueued = false
        lastCheckpointEnded = .now
        return result
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        Int32(clamping: duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Writes what is queued, a batch per transaction, until nothing is: each batch's
    /// submissions by their kind (``BatchWriter``), then their callers resumed with the outcomes.
    private func drain() async {
        while !queued.isEmpty {
            let batch = queued
            queued = []
            let submissions = batch.map(\.0)
            // Committed or failed below: either way no longer on its way in.
            defer { uncommittedRecords -= submissions.reduce(0) { $0 + $1.recordCount } }
            let (window, lastSeq, lastEntry) = (windowMilliseconds, self.lastSeq, self.lastEntry)
            do {
                let result = try await pool.write { db in
                    var writer = try BatchWriter(db, lastSeq: lastSeq, lastEntry: lastEntry, windowMilliseconds: window)
                    return try writer.write(submissions)
                }
                committed(result, storedEvents: submissions.contains { if case .mark = $0 { false } else { true } })
                for (index, (_, continuation)) in batch.enumerated() {
                    continuation.resume(returning: result.outcomes[index])
                }
            } catch {
                volume.writeFailed(error, pending: Int(self.lastSeq - publishedThrough))
                await truncateWALIfFull()
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
        writing = false
    }

    /// Takes a committed batch's numbers, and schedules a checkpoint.
    /// `storedEvents`: the batch held more than marks. Only such a batch says the volume has
    /// room for events again; a mark alone committing says nothing of it (it frees room).
    private func committed(_ result: BatchResult, storedEvents: Bool) {
        lastEntry = result.lastEntry
        logBytes += result.addedBytes
        parked -= result.redriven
        recent.add(result.added)
        if let marked = result.marked {
            publishedThrough = max(publishedThrough, marked)
            recent.drop(through: publishedThrough)
        }
        lastSeq = result.lastSeq
        commits += 1
        if storedEvents { volume.written() }
        scheduleCheckpoint()
    }
}
