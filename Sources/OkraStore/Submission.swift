import Foundation
import GRDB
import OkraRouting

/// A routed record as the outbox keeps it: headers and value in clear, or sealed under the
/// cipher's current key (``StoreCipher``). Made on the caller's task, so the one writer only
/// binds it.
struct StoredRecord: Sendable {
    /// The whole record in clear, as the publisher reads it (its `seq` given once committed):
    /// what ``RecentRecords`` keeps.
    var clear: OutboxStore.PendingRecord
    /// As the outbox keeps it, for the writer (``BoundValues``): `event_id`, `topic`, `key`, the
    /// headers (their JSON text, or sealed), the value (or what it keeps beside its entry's body:
    /// ``StoreSchema/ValueForm``; or sealed), `created_at`, `key_id`.
    /// ``StoreSchema/SQL/insertRecord`` takes them after `seq`, `body_entry` and `value_form`.
    let columns: BoundValues

    /// `record` with `value` in place of its own, sealed when `cipher` is given.
    init(_ record: RoutedRecord, value: some Collection<UInt8>, eventID: String?, createdAtMilliseconds: Int64,
         cipher: StoreCipher?) throws(StoreCipherFailure) {
        clear = OutboxStore.PendingRecord(seq: 0, eventID: eventID, topic: record.topic, key: record.key.map { Array($0.utf8) },
                                          headers: record.headers, value: record.value, createdAtMilliseconds: createdAtMilliseconds)
        let headers = OutboxStore.encodeHeaders(record.headers)
        var columns = BoundValues(count: 7, bytes: (eventID?.utf8.count ?? 0) + record.topic.utf8.count + (record.key?.utf8.count ?? 0)
                                  + headers.utf8.count + value.count + 128)
        columns.append(eventID)
        columns.append(record.topic)
        if let key = record.key { columns.append(blob: key.utf8) } else { columns.append(nil as Int64?) }
        if let cipher {
            columns.append(blob: try cipher.seal(Array(headers.utf8), .headers))
            columns.append(blob: try cipher.seal(Array(value), .value))
        } else {
            columns.append(headers)
            columns.append(blob: value)
        }
        columns.append(createdAtMilliseconds)
        columns.append(cipher?.currentKeyID)
        self.columns = columns
    }
}

/// One write the store's writer takes, by kind: a webhook's records (deduplicated, with its
/// event log entry), a replay's (listed under the entry replayed), a parked record put back, or
/// the publish mark moved over delivered records.
enum Submission: Sendable {
    case webhook(Webhook)
    case replay(Replay)
    case redrive(Redrive)
    case mark(Mark)

    /// A new request's records: its id checked against the dedupe index of its environment, and
    /// its event log entry written in the same transaction.
    struct Webhook: Sendable {
        /// Fixed at `init`, with ``dedupeColumns`` made from them.
        let eventID: String?
        /// The environment its id is deduplicated in (``StoreSchema``'s `event_ids`).
        let environment: String
        var records: [StoredRecord]
        var receivedAtMilliseconds: Int64
        /// Its event log entry (nil: the log is off).
        var log: EventLogRow?
        /// With `log`: how each record's value is kept (its `value` already cut to match).
        var valueForms: [StoreSchema.ValueForm]?
        /// `env` and the stored id for the dedupe index (``StoreSchema/SQL/rememberID`` takes them
        /// after `received_at` and `entry`); nil without an id.
        let dedupeColumns: BoundValues?

        init(eventID: String?, environment: String, records: [StoredRecord], receivedAtMilliseconds: Int64, log: EventLogRow?,
             valueForms: [StoreSchema.ValueForm]?) {
            self.eventID = eventID
            self.environment = environment
            self.records = records
            self.receivedAtMilliseconds = receivedAtMilliseconds
            self.log = log
            self.valueForms = valueForms
            dedupeColumns = eventID.map { id in
                var columns = BoundValues(count: 2, bytes: environment.utf8.count + id.utf8.count)
                columns.append(environment)
                StoreSchema.appendStoredID(id, to: &columns)
                return columns
            }
        }
    }

    /// A replay's records: no dedupe, no new entry; listed under the replayed entry's replays
    /// (if it is still kept).
    struct Replay: Sendable {
        var eventID: String?
        var records: [StoredRecord]
        var receivedAtMilliseconds: Int64
        /// The log entry replayed (nil: ids given without an entry).
        var entry: Int64?
        /// `records` as ``EventLogRow/describe(_:)`` writes them.
        var description: String
    }

    /// A parked record back at the end of the outbox: stored only if it is still parked, and
    /// marked redriven in the same transaction.
    struct Redrive: Sendable {
        var eventID: String?
        var record: StoredRecord
        var parkedSeq: Int64
        var receivedAtMilliseconds: Int64
    }

    /// The publish mark moved to `through`, the records at or below it deleted from the outbox,
    /// none of them parked. It rides in the transaction of the webhooks committed with it: under
    /// load the publisher's marks cost no transaction (no commit, no sync) of their own.
    struct Mark: Sendable {
        var through: Int64
    }

    /// How many records it adds to the outbox (what the bound counts).
    var recordCount: Int {
        switch self {
        case .webhook(let webhook): webhook.records.count
        case .replay(let replay): replay.records.count
        case .redrive: 1
        case .mark: 0
        }
    }
}

/// What one committed batch did: each submission's outcome, and the numbers the writer keeps.
struct BatchResult: Sendable {
    var outcomes: [OutboxStore.Acceptance]
    /// The last record sequence number and event log entry handed out.
    var lastSeq: Int64
    var lastEntry: Int64
    /// Bytes the event log grew by (entries, and replays listed on entries).
    var addedBytes: Int64
    /// Parked records put back.
    var redriven: Int
    /// The publish mark written (nil: no mark in the batch).
    var marked: Int64?
    /// The records the batch added to the outbox, in clear, with their sequence numbers.
    var added: [OutboxStore.PendingRecord]
}

/// One transaction of the store's writer: each submission written by its kind, in order, with
/// the sequence numbers and entry numbers it hands out.
struct BatchWriter {
    private let db: Database
    private let windowMilliseconds: Int64
    private var seq: Int64
    private var entry: Int64
    private var addedBytes: Int64 = 0
    private var redriven = 0
    private var marked: Int64?
    private var added: [OutboxStore.PendingRecord] = []
    private let insertRecord: Statement
    /// Prepared with the batch: every webhook with an id runs it (the others only for known ids).
    private let rememberID: Statement

    init(_ db: Database, lastSeq: Int64, lastEntry: Int64, windowMilliseconds: Int64) throws {
        self.db = db
        self.windowMilliseconds = windowMilliseconds
        seq = lastSeq
        entry = lastEntry
        insertRecord = try db.cachedStatement(sql: StoreSchema.SQL.insertRecord)
        rememberID = try db.cachedStatement(sql: StoreSchema.SQL.rememberID)
    }

    /// Writes `submissions` in order.
    mutating func write(_ submissions: [Submission]) throws -> BatchResult {
        let outcomes = try submissions.map { submission -> OutboxStore.Acceptance in
            switch submission {
            case .webhook(let webhook): try write(webhook)
            case .replay(let replay): try write(replay)
            case .redrive(let redrive): try write(redrive)
            case .mark(let mark): try write(mark)
            }
        }
        return BatchResult(outcomes: outcomes, lastSeq: seq, lastEntry: entry, addedBytes: addedBytes, redriven: redriven, marked: marked, added: added)
    }

    private mutating func write(_ mark: Submission.Mark) throws -> OutboxStore.Acceptance {
        // Only forward: marks of one batch may come in any order.
        guard mark.through > marked ?? .min else { return .accepted }
        try db.cachedStatement(sql: StoreSchema.SQL.movePublishMark).execute(arguments: [mark.through])
        try db.cachedStatement(sql: StoreSchema.SQL.deletePublished).execute(arguments: [mark.through])
        marked = mark.through
        return .accepted
    }

    private mutating func write(_ webhook: Submission.Webhook) throws -> OutboxStore.Acceptance {
        let entryNumber: Int64? = webhook.log == nil ? nil : entry + 1
        if let id = webhook.eventID, try isDuplicate(id, of: webhook, entry: entryNumber) { return .duplicate }
        if let log = webhook.log, let entryNumber {
            try log.insert(db, entry: entryNumber, firstSeq: seq + 1)
            entry = entryNumber
            addedBytes += log.bytes
        }
        try insert(webhook.records, eventID: webhook.eventID, at: webhook.receivedAtMilliseconds, entry: entryNumber) { index in
            // The body is in the entry: the record keeps the rest of its value.
            entryNumber == nil ? .whole : webhook.valueForms?[index] ?? .whole
        }
        return .accepted
    }

    /// Whether `id` was seen in the webhook's environment within the window: then the first
    /// entry counts one more duplicate. Else the id is remembered (anew), with its entry.
    private func isDuplicate(_ id: String, of webhook: Submission.Webhook, entry: Int64?) throws -> Bool {
        // Made with the id: a webhook with an id has them.
        guard let columns = webhook.dedupeColumns else { preconditionFailure("a webhook with an id and no dedupe columns") }
        // A new id (the usual case) costs one insert; only a known one is looked up.
        try columns.execute(rememberID, in: db, leading: webhook.receivedAtMilliseconds, entry)
        guard db.changesCount == 0 else { return false }
        let stored = StoreSchema.storedID(id)
        let row = try Row.fetchOne(db.cachedStatement(sql: StoreSchema.SQL.lookUpID), arguments: [webhook.environment, stored])
        let seen: Int64 = row?["received_at"] ?? .min
        if seen >= webhook.receivedAtMilliseconds - windowMilliseconds {
            if let known: Int64 = row?["entry"] {
                try db.execute(sql: StoreSchema.SQL.countDuplicate, arguments: [known])
            }
            return true
        }
        try db.cachedStatement(sql: StoreSchema.SQL.renewID).execute(arguments: [webhook.receivedAtMilliseconds, entry, webhook.environment, stored])
        return false
    }

    private mutating func write(_ replay: Submission.Replay) throws -> OutboxStore.Acceptance {
        // A replay that appends nothing (its routes drop the event now) is not listed: its first
        // sequence number would be the next one's too.
        if let replayed = replay.entry, !replay.records.isEmpty {
            try db.cachedStatement(sql: StoreSchema.SQL.rememberReplay)
                .execute(arguments: [replayed, seq + 1, replay.receivedAtMilliseconds, replay.description])
            if db.changesCount > 0 {
                let bytes = EventLogRow.replayBytes(replay.description)
                try db.execute(sql: StoreSchema.SQL.growEntry, arguments: [bytes, replayed])
                addedBytes += bytes
            }
        }
        try insert(replay.records, eventID: replay.eventID, at: replay.receivedAtMilliseconds, entry: nil) { _ in .whole }
        return .accepted
    }

    private mutating func write(_ redrive: Submission.Redrive) throws -> OutboxStore.Acceptance {
        let still = try Int.fetchOne(db, sql: StoreSchema.SQL.isStillParked, arguments: [redrive.parkedSeq]) ?? 0
        guard still == 1 else { return .duplicate }
        try db.execute(sql: StoreSchema.SQL.markRedriven, arguments: [seq + 1, redrive.parkedSeq])
        redriven += 1
        try insert([redrive.record], eventID: redrive.eventID, at: redrive.receivedAtMilliseconds, entry: nil) { _ in .whole }
        return .accepted
    }

    /// Appends `records` to the outbox with the next sequence numbers.
    private mutating func insert(_ records: [StoredRecord], eventID: String?, at milliseconds: Int64, entry: Int64?,
                                 form: (Int) -> StoreSchema.ValueForm) throws {
        for (index, record) in records.enumerated() {
            seq += 1
            let kept = form(index)
            try record.columns.execute(insertRecord, in: db, leading: seq, kept == .whole ? nil : entry, Int64(kept.rawValue))
            var clear = record.clear
            clear.seq = seq
            added.append(clear)
        }
    }
}
