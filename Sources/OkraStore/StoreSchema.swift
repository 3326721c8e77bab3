import Foundation
import GRDB

/// The store's tables, and the upgrade of a file written by an earlier layout.
///
/// - `records`: the outbox, one row per routed Kafka record, `seq` in publish order. A record
///   leaves the table in the transaction that moves the publish mark past it. With the event log
///   on, a record whose value contains the request's body keeps only the rest (``ValueForm``):
///   the body is read from its entry (`body_entry`), so it is written once (version 4).
/// - `publish_progress`: one row, `published_through`: every record with `seq` at or below it
///   was delivered (the publisher's high-water mark).
/// - `event_ids`: the dedupe index, keyed by an id and the environment it arrived in (its token's,
///   or without tokens the payload's `okraenv`; the id first, so a look-up by id alone uses the
///   key too), with when it was received (version 6:
///   a sandbox delivery never makes the same production payload a duplicate). Ids of the
///   envelope's form (`okra-` and 32 hex digits) are stored as their 16 bytes, others as text.
/// - `parked`: records Kafka refused for good, taken out of the outbox in the transaction that
///   moved the mark past them, with their error (version 3); a redriven one keeps its row with
///   `redriven_to` (its new outbox position), a discarded one with `discarded_at` (version 4).
/// - `audit_log`: the audit trail (§9, version 8), one row per operator action.
/// - `key_id` (records, parked, event_log; version 8): the key the row's body, value and
///   headers are sealed with (``StoreCipher``), NULL when they are in clear; `cipher_keys` lists
///   every key id used, so a key file without one of them is found at start.
/// - `erasures`: customers whose erasure waits for their pending records (version 8).
/// - `event_log`: the event log (§9, version 4), one row per accepted request, written in the
///   transaction that stores its records. Its records are `first_seq` and the ones after it
///   (a request's records are numbered together); their states are derived from the publish
///   mark and `parked`, never written per record. `event_ids.entry` finds an id's entry.
///
/// docs/decisions/0005-store-layout.md explains the choices.
package enum StoreSchema {
    /// How `records.value` holds a record's value (`package`: the floor benchmark keeps values
    /// as the store does).
    package enum ValueForm: Int {
        /// The whole value.
        case whole = 0
        /// The envelope up to its `data`: the value is this, the entry's body, and `}`.
        case envelopePrefix = 1
        /// Nothing: the value is the entry's body (binary format, dead letters).
        case body = 2

        /// The form in which `value` can be kept beside `body`, and what `records.value` keeps.
        package static func split(_ value: [UInt8], body: [UInt8]) -> (ValueForm, ArraySlice<UInt8>) {
            if value == body { return (.body, []) }
            let prefixCount = value.count - body.count - 1
            if prefixCount > 0, value.last == UInt8(ascii: "}") {
                let same = body.isEmpty || value.withUnsafeBufferPointer { whole in
                    body.withUnsafeBufferPointer { memcmp(whole.baseAddress! + prefixCount, $0.baseAddress!, body.count) == 0 }
                }
                if same { return (.envelopePrefix, value[0..<prefixCount]) }
            }
            return (.whole, value[...])
        }

        /// The value from what `records.value` keeps and the entry's body, built in one
        /// allocation (the publisher does this for every record it reads).
        static func join(_ stored: [UInt8], form: Int, body: (some Collection<UInt8>)?) -> [UInt8] {
            switch ValueForm(rawValue: form) {
            case .envelopePrefix?:
                var value: [UInt8] = []
                value.reserveCapacity(stored.count + (body?.count ?? 0) + 1)
                value.append(contentsOf: stored)
                if let body { value.append(contentsOf: body) }
                value.append(UInt8(ascii: "}"))
                return value
            case .body?: return body.map { Array($0) } ?? []
            default: return stored
            }
        }
    }

    /// `PRAGMA user_version` of this layout. 5 added `event_log_replays` (a file of version 4 is
    /// upgraded by making that table); 6 keys `event_ids` by environment and id; 7 keeps the
    /// route that dropped an event in `event_log.dropped_by` (it was a `reason` of `dropped:<route>`);
    /// 8 adds the audit trail (`audit_log`), the erasures waiting for delivery (`erasures`) and
    /// encryption at rest (`key_id`, `cipher_keys`); 9 keeps each entry's trace context
    /// (`event_log.traceparent`, `tracestate`), so a replay carries it on; 10 searches record,
    /// customer and account through `event_log_keys` instead of three indexes of the log.
    static let version = 10

    /// What the store needs to know about the file at start.
    struct State {
        var publishedThrough: Int64
        var lastSeq: Int64
        var parked: Int
        var lastEntry: Int64
        var logBytes: Int64
        var erasuresWaiting: Bool
    }

    /// The dedupe index's table (layout 6), made under `name` (with `IF NOT EXISTS` when asked).
    static func eventIDsTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            env TEXT NOT NULL,
            id BLOB NOT NULL,
            received_at INTEGER NOT NULL,
            entry INTEGER,
            PRIMARY KEY (id, env)
        ) WITHOUT ROWID;
        """
    }

    /// The event log's search keys (layout 10): record, customer and account ids, each with its
    /// entry, in `event_log_keys`, ordered by the entry's bucket first (``keyBucketShift``), so
    /// a commit's keys land in the few pages of the newest bucket rather than in one random page
    /// each of three indexes (docs/benchmarks.md). A search looks the value up in every bucket
    /// (``EventLogQuery/keyed(_:_:_:)``). Triggers keep the keys with their rows: an entry's keys
    /// are written with it and removed with it (retention, erasure; a row a REPLACE removes too,
    /// as every connection turns `recursive_triggers` on). The shift is written into the
    /// triggers of existing files: changing it needs a new layout version.
    static let logKeys = """
        CREATE TABLE IF NOT EXISTS event_log_keys (
            bucket INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            value TEXT NOT NULL,
            entry INTEGER NOT NULL,
            PRIMARY KEY (bucket, kind, value, entry)
        ) WITHOUT ROWID;
        CREATE TRIGGER IF NOT EXISTS event_log_keys_added AFTER INSERT ON event_log BEGIN
            \(LogKey.allCases.map { insertKey($0, "new") }.joined(separator: "\n    "))
        END;
        CREATE TRIGGER IF NOT EXISTS event_log_keys_removed AFTER DELETE ON event_log BEGIN
            \(LogKey.allCases.map { deleteKey($0, "old") }.joined(separator: "\n    "))
        END;
        CREATE TRIGGER IF NOT EXISTS event_log_keys_changed AFTER UPDATE OF entry, record, customer, account ON event_log BEGIN
            \(LogKey.allCases.map { deleteKey($0, "old") }.joined(separator: "\n    "))
            \(LogKey.allCases.map { insertKey($0, "new") }.joined(separator: "\n    "))
        END;
        """

    /// The dead letters that name no customer, which an erasure opens to look for the
    /// customer's id in their bodies: a partial index, so a webhook that is no such dead letter
    /// adds nothing to it, and an erasure (every second while one waits) reads those entries
    /// rather than the whole log. Made with `IF NOT EXISTS` after the upgrades, on any file.
    static let deadLettersWithoutCustomer = """
        CREATE INDEX IF NOT EXISTS event_log_anonymous_deadletters ON event_log(entry) WHERE deadletter = 1 AND customer IS NULL;
        """

    /// The event log's columns searched through `event_log_keys`, by the number it keeps them under.
    enum LogKey: Int, CaseIterable {
        case record, customer, account
    }

    /// An entry's bucket in `event_log_keys` is its number shifted right by this: 256 entries a
    /// bucket. Larger buckets spread a commit's keys over more pages; smaller ones cost a search
    /// more look-ups (one a bucket: about 3,900 over a million entries).
    static let keyBucketShift = 8

    private static func insertKey(_ key: LogKey, _ row: String) -> String {
        "INSERT INTO event_log_keys(bucket, kind, value, entry) SELECT \(row).entry >> \(keyBucketShift), \(key.rawValue), \(row).\(key), \(row).entry WHERE \(row).\(key) IS NOT NULL;"
    }

    private static func deleteKey(_ key: LogKey, _ row: String) -> String {
        "DELETE FROM event_log_keys WHERE bucket = \(row).entry >> \(keyBucketShift) AND kind = \(key.rawValue) AND value = \(row).\(key) AND entry = \(row).entry;"
    }

    /// Every table and index of this layout, each made only if missing.
    static let tables = """
        \(eventIDsTable("IF NOT EXISTS event_ids"))
        CREATE INDEX IF NOT EXISTS event_ids_received_at ON event_ids(received_at);
        CREATE TABLE IF NOT EXISTS records (
            seq INTEGER PRIMARY KEY,
            event_id TEXT,
            topic TEXT NOT NULL,
            key BLOB,
            headers TEXT NOT NULL,
            value BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            body_entry INTEGER,
            value_form INTEGER NOT NULL DEFAULT 0,
            key_id TEXT
        );
        CREATE TABLE IF NOT EXISTS publish_progress (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            published_through INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO publish_progress(one, published_through) VALUES (1, 0);
        CREATE TABLE IF NOT EXISTS parked (
            seq INTEGER PRIMARY KEY,
            event_id TEXT,
            topic TEXT NOT NULL,
            key BLOB,
            headers TEXT NOT NULL,
            value BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            parked_at INTEGER NOT NULL,
            reason TEXT NOT NULL,
            error TEXT NOT NULL,
            redriven_to INTEGER,
            discarded_at INTEGER,
            key_id TEXT,
            customer TEXT
        );
        CREATE TABLE IF NOT EXISTS event_log (
            entry INTEGER PRIMARY KEY,
            id TEXT,
            recorded_at INTEGER NOT NULL,
            time TEXT,
            product TEXT,
            outcome TEXT,
            code TEXT,
            env TEXT,
            token_env TEXT,
            record TEXT,
            customer TEXT,
            account TEXT,
            bank TEXT,
            shape TEXT,
            deadletter INTEGER NOT NULL,
            reason TEXT,
            dropped_by TEXT,
            body BLOB NOT NULL,
            first_seq INTEGER NOT NULL,
            records TEXT NOT NULL,
            duplicates INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL,
            key_id TEXT,
            traceparent TEXT,
            tracestate TEXT
        );
        -- Each replay of an entry: its records (as event_log.records) from first_seq on.
        CREATE TABLE IF NOT EXISTS event_log_replays (
            entry INTEGER NOT NULL,
            first_seq INTEGER NOT NULL,
            replayed_at INTEGER NOT NULL,
            records TEXT NOT NULL,
            PRIMARY KEY (entry, first_seq)
        ) WITHOUT ROWID;
        -- The audit trail (version 8): each operator action, kept --audit-retain.
        CREATE TABLE IF NOT EXISTS audit_log (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            token TEXT NOT NULL,
            scope TEXT,
            action TEXT NOT NULL,
            filter TEXT,
            ids TEXT,
            count INTEGER NOT NULL,
            error TEXT
        );
        CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
        -- The ids of the keys values were sealed with (version 8): a key file must hold them all.
        CREATE TABLE IF NOT EXISTS cipher_keys (
            key_id TEXT PRIMARY KEY
        ) WITHOUT ROWID;
        -- Erasures waiting for a customer's pending records to be delivered (version 8).
        CREATE TABLE IF NOT EXISTS erasures (
            customer TEXT PRIMARY KEY,
            requested_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """

    /// The statements of the store's writer (``BatchWriter``), named.
    enum SQL {
        /// The publish mark, only ever forward.
        static let movePublishMark = "UPDATE publish_progress SET published_through = MAX(published_through, ?)"
        static let deletePublished = "DELETE FROM records WHERE seq <= ?"
        static let insertRecord = """
            INSERT INTO records(seq, body_entry, value_form, event_id, topic, key, headers, value, created_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        /// A new id is remembered by one insert; a known one is left as it is.
        static let rememberID = "INSERT OR IGNORE INTO event_ids(received_at, entry, env, id) VALUES (?, ?, ?, ?)"
        static let lookUpID = "SELECT received_at, entry FROM event_ids WHERE env = ? AND id = ?"
        static let renewID = "UPDATE event_ids SET received_at = ?, entry = ? WHERE env = ? AND id = ?"
        static let countDuplicate = "UPDATE event_log SET duplicates = duplicates + 1 WHERE entry = ?"
        /// A replay listed on its entry, only while the entry is kept.
        static let rememberReplay = """
            INSERT OR IGNORE INTO event_log_replays(entry, first_seq, replayed_at, records)
            SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM event_log WHERE entry = ?1)
            """
        static let growEntry = "UPDATE event_log SET bytes = bytes + ? WHERE entry = ?"
        static let isStillParked = "SELECT COUNT(*) FROM parked WHERE seq = ? AND redriven_to IS NULL AND discarded_at IS NULL"
        static let markRedriven = "UPDATE parked SET redriven_to = ? WHERE seq = ?"
        static let insertEntry = """
            INSERT INTO event_log(entry, first_seq, id, recorded_at, time, product, outcome, code, env, token_env, record, customer, account,
                                  bank, shape, deadletter, reason, dropped_by, body, records, bytes, key_id, traceparent, tracestate)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
    }

    /// Creates the tables of a new file, upgrades an earlier layout, and reads the state.
    static func prepare(_ db: Database) throws -> State {
        let found = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if found > version { throw OutboxStore.NewerLayout(found: found, supported: version) }
        try db.execute(sql: tables)
        try upgradeFromVersion3(db)
        try upgradeFromVersion5(db)
        try upgradeFromVersion6(db)
        try upgradeFromVersion7(db)
        try upgradeFromVersion8(db)
        // Made after the upgrades (a future one that rebuilds `event_log` drops its triggers),
        // then filled for the entries of an earlier layout.
        try db.execute(sql: logKeys)
        try db.execute(sql: deadLettersWithoutCustomer)
        try upgradeFromVersion9(db, found: found)
        if try db.tableExists("outbox") { try upgradeFromVersion1(db) }
        try db.execute(sql: "PRAGMA user_version = \(version)")
        return try state(db)
    }

    /// Refuses a file with values sealed under a key not held (``OutboxStore/MissingKey``), or
    /// under a key of the same id that does not open them (``OutboxStore/WrongKey``: one value
    /// of each id is opened to see); forgets the ids of keys nothing uses any more, and notes the
    /// sealing key's.
    static func checkKeys(_ db: Database, cipher: StoreCipher?) throws {
        let held = cipher?.keyIDs ?? []
        if let cipher, let keyID = try keyThatDoesNotOpen(db, cipher) { throw OutboxStore.WrongKey(keyID: keyID) }
        for keyID in try String.fetchAll(db, sql: "SELECT key_id FROM cipher_keys") where !held.contains(keyID) {
            // Looked up only for a key the file lacks: a rotation's last step, or a mistake.
            guard try isKeyInUse(db, keyID) else {
                try db.execute(sql: "DELETE FROM cipher_keys WHERE key_id = ?", arguments: [keyID])
                continue
            }
            throw OutboxStore.MissingKey(keyID: keyID)
        }
        if let sealing = cipher?.currentKeyID { try db.execute(sql: "INSERT OR IGNORE INTO cipher_keys(key_id) VALUES (?)", arguments: [sealing]) }
    }

    /// The first key id in use whose key in `cipher` does not open a value sealed under it.
    static func keyThatDoesNotOpen(_ db: Database, _ cipher: StoreCipher) throws -> String? {
        guard try db.tableExists("cipher_keys") else { return nil }
        for keyID in try String.fetchAll(db, sql: "SELECT key_id FROM cipher_keys") where cipher.keyIDs.contains(keyID) {
            let samples: [(String, StoreCipher.Purpose)] = [("SELECT body FROM event_log WHERE key_id = ? LIMIT 1", .body),
                                                            ("SELECT value FROM records WHERE key_id = ? LIMIT 1", .value),
                                                            ("SELECT value FROM parked WHERE key_id = ? LIMIT 1", .value)]
            for (sql, purpose) in samples {
                guard let sealed = try Data.fetchOne(db, sql: sql, arguments: [keyID]) else { continue }
                do {
                    _ = try cipher.open(sealed, purpose, keyID: keyID)
                } catch {
                    return keyID
                }
                break
            }
        }
        return nil
    }

    /// Whether a row of the outbox, the parked records or the log is sealed under `keyID`.
    static func isKeyInUse(_ db: Database, _ keyID: String) throws -> Bool {
        try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM records WHERE key_id = ?1) OR EXISTS (SELECT 1 FROM parked WHERE key_id = ?1)
                OR EXISTS (SELECT 1 FROM event_log WHERE key_id = ?1)
            """, arguments: [keyID]) ?? false
    }

    /// What the writer starts from: the mark, the last numbers handed out, the counts.
    static func state(_ db: Database) throws -> State {
        let publishedThrough = try Int64.fetchOne(db, sql: "SELECT published_through FROM publish_progress") ?? 0
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM records") ?? publishedThrough
        let parked = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM parked WHERE redriven_to IS NULL AND discarded_at IS NULL") ?? 0
        let lastEntry = try Int64.fetchOne(db, sql: "SELECT MAX(entry) FROM event_log") ?? 0
        let logBytes = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM event_log") ?? 0
        let erasures = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM erasures") ?? 0
        return State(publishedThrough: publishedThrough, lastSeq: max(lastSeq, publishedThrough), parked: parked,
                     lastEntry: lastEntry, logBytes: logBytes, erasuresWaiting: erasures > 0)
    }

    /// Version 3 had no event log: `event_ids` gains `entry`, `parked` its redrive and discard
    /// columns (the `event_log` table is new, made above). Entries start with this version.
    static func upgradeFromVersion3(_ db: Database) throws {
        func columns(_ table: String) throws -> Set<String> {
            Set(try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { $0[0] as String })
        }
        if try !columns("event_ids").contains("entry") {
            try db.execute(sql: "ALTER TABLE event_ids ADD COLUMN entry INTEGER")
        }
        let records = try columns("records")
        if !records.contains("body_entry") { try db.execute(sql: "ALTER TABLE records ADD COLUMN body_entry INTEGER") }
        if !records.contains("value_form") { try db.execute(sql: "ALTER TABLE records ADD COLUMN value_form INTEGER NOT NULL DEFAULT 0") }
        let parked = try columns("parked")
        if !parked.contains("redriven_to") { try db.execute(sql: "ALTER TABLE parked ADD COLUMN redriven_to INTEGER") }
        if !parked.contains("discarded_at") { try db.execute(sql: "ALTER TABLE parked ADD COLUMN discarded_at INTEGER") }
    }

    /// Up to version 5 the dedupe index was keyed by the id alone. Each id takes the environment
    /// of its log entry (`event_log.env`: the token's, or the payload's without tokens); an id
    /// whose entry is gone (the log off, or pruned) takes `unknown`, so a redelivery of it within
    /// the window is published once more, never suppressed wrongly (consumers dedupe by id).
    static func upgradeFromVersion5(_ db: Database) throws {
        let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info('event_ids')").map { $0[0] as String }
        guard !columns.contains("env") else { return }
        try db.execute(sql: """
            \(eventIDsTable("event_ids_by_env"))
            INSERT OR IGNORE INTO event_ids_by_env(env, id, received_at, entry)
                SELECT COALESCE(l.env, 'unknown'), i.id, i.received_at, i.entry FROM event_ids i LEFT JOIN event_log l ON l.entry = i.entry;
            DROP TABLE event_ids;
            ALTER TABLE event_ids_by_env RENAME TO event_ids;
            CREATE INDEX event_ids_received_at ON event_ids(received_at);
            """)
    }

    /// Up to version 6 a route's drop was kept as `reason` `dropped:<route>` beside the dead
    /// letters' reasons: it moves to its own column, and `reason` is a dead letter's only.
    static func upgradeFromVersion6(_ db: Database) throws {
        let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info('event_log')").map { $0["name"] as String }
        guard !columns.contains("dropped_by") else { return }
        try db.execute(sql: """
            ALTER TABLE event_log ADD COLUMN dropped_by TEXT;
            UPDATE event_log SET dropped_by = substr(reason, 9), reason = NULL WHERE deadletter = 0 AND reason LIKE 'dropped:%';
            """)
    }

    /// Up to version 7 nothing was sealed: the outbox, the parked records and the log gain
    /// `key_id` (NULL: stored in clear); a parked record gains its entry's `customer`, so an
    /// erasure finds it after the entry is pruned.
    static func upgradeFromVersion7(_ db: Database) throws {
        for table in ["records", "parked", "event_log"] {
            let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { $0["name"] as String }
            if !columns.contains("key_id") { try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN key_id TEXT") }
            if table == "parked" && !columns.contains("customer") { try db.execute(sql: "ALTER TABLE parked ADD COLUMN customer TEXT") }
        }
    }

    /// Up to version 8 no entry kept a trace context: the log gains `traceparent` and
    /// `tracestate` (NULL: none, as for a request that came without one).
    static func upgradeFromVersion8(_ db: Database) throws {
        let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info('event_log')").map { $0["name"] as String }
        guard !columns.contains("traceparent") else { return }
        try db.execute(sql: "ALTER TABLE event_log ADD COLUMN traceparent TEXT; ALTER TABLE event_log ADD COLUMN tracestate TEXT")
    }

    /// Up to version 9 record, customer and account were three indexes of `event_log`: the
    /// entries' values move to `event_log_keys` (its triggers keep them from now on), and the
    /// indexes go. Decided by the file's version, not by the indexes: a file of an earlier layout
    /// whose indexes were lost still gets its keys. The log is read in entry order, which is the
    /// keys' bucket order, so the inserts walk the new table from end to end with no sort (and no
    /// temporary file).
    static func upgradeFromVersion9(_ db: Database, found: Int) throws {
        guard found < 10 else { return }
        for key in LogKey.allCases {
            try db.execute(sql: """
                INSERT OR IGNORE INTO event_log_keys(bucket, kind, value, entry)
                    SELECT entry >> \(keyBucketShift), \(key.rawValue), \(key), entry FROM event_log WHERE \(key) IS NOT NULL
                """)
        }
        try db.execute(sql: "DROP INDEX IF EXISTS event_log_record; DROP INDEX IF EXISTS event_log_customer; DROP INDEX IF EXISTS event_log_account")
    }

    /// The first layout kept published rows (marked by `published_at`) in `outbox` and text ids
    /// in `events`. Its unpublished records move to `records` in their order, after any already
    /// there; its ids move to `event_ids`.
    static func upgradeFromVersion1(_ db: Database) throws {
        let base = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM records") ?? 0
        let floor = max(base, try Int64.fetchOne(db, sql: "SELECT published_through FROM publish_progress") ?? 0)
        try db.execute(sql: """
            INSERT INTO records(seq, event_id, topic, key, headers, value, created_at)
            SELECT ? + ROW_NUMBER() OVER (ORDER BY seq), event_id, topic, key, headers, value, created_at
            FROM outbox WHERE published_at IS NULL ORDER BY seq
            """, arguments: [floor])
        if try db.tableExists("events") {
            let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO event_ids(env, id, received_at) VALUES ('unknown', ?, ?)")
            let rows = try Row.fetchCursor(db, sql: "SELECT id, received_at FROM events")
            while let row = try rows.next() {
                try insert.execute(arguments: [storedID(row["id"]), row["received_at"] as Int64])
            }
            try db.execute(sql: "DROP TABLE events")
        }
        try db.execute(sql: "DROP TABLE outbox")
    }

    /// The dedupe index's form of an event id: 16 bytes for `okra-` followed by 32 lowercase
    /// hex digits (every id the envelope makes), the text itself otherwise. SQLite never finds
    /// a blob equal to a text, so the two forms cannot collide.
    static func storedID(_ id: String) -> DatabaseValue {
        okraIDBytes(id).map { Data($0).databaseValue } ?? id.databaseValue
    }

    /// The 16 bytes ``storedID(_:)`` keeps for an `okra-` id; nil for any other id.
    package static func okraIDBytes(_ id: String) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        return decodeOkraID(id, into: &bytes) ? bytes : nil
    }

    /// Appends ``storedID(_:)``'s form of `id` to `values`, with no `Data` in between.
    static func appendStoredID(_ id: String, to values: inout BoundValues) {
        var bytes: (UInt64, UInt64) = (0, 0)
        let decoded = withUnsafeMutableBytes(of: &bytes) { buffer in
            var buffer = buffer
            return decodeOkraID(id, into: &buffer)
        }
        if decoded { withUnsafeBytes(of: bytes) { values.append(blob: $0) } } else { values.append(id) }
    }

    /// Whether `id` is `okra-` and 32 lowercase hex digits; if so, their 16 bytes are in `bytes`.
    private static func decodeOkraID(_ id: String, into bytes: inout some MutableCollection<UInt8>) -> Bool {
        var utf8 = id.utf8.makeIterator()
        for expected in "okra-".utf8 {
            guard utf8.next() == expected else { return false }
        }
        var index = bytes.startIndex
        for digit in 0..<32 {
            guard let value = utf8.next().flatMap(hexValue) else { return false }
            bytes[index] = digit % 2 == 0 ? value << 4 : bytes[index] | value
            if digit % 2 == 1 { index = bytes.index(after: index) }
        }
        return utf8.next() == nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
