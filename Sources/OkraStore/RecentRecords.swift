import Synchronization

/// The newest committed outbox records, in clear, as the publisher reads them: the writer adds
/// each batch's records once its transaction is durable, so under load the publisher takes them
/// from here instead of reading back (and opening) what was just written. A record is only ever
/// here after its commit; what is not here (after a restart, or older than the window when the
/// publisher fell behind) is read from the file as before (decision 0005).
///
/// A window of consecutive sequence numbers, bounded by records and bytes: when full, the
/// oldest leave it. Records the publish mark passes leave it too.
final class RecentRecords: Sendable {
    private struct Window {
        /// Records `first ... first + count - 1` in `slots[head...]`; a slot before `head` is
        /// emptied as its record leaves, so nothing that left is still held.
        var slots: [OutboxStore.PendingRecord?] = []
        var head = 0
        var first: Int64
        var bytes = 0

        var count: Int { slots.count - head }
        /// The sequence number the next record must have to extend the window.
        var next: Int64 { first + Int64(count) }

        mutating func append(_ record: OutboxStore.PendingRecord) {
            slots.append(record)
            bytes += record.size
        }

        mutating func removeFirst() {
            bytes -= slots[head]?.size ?? 0
            slots[head] = nil
            head += 1
            first += 1
            // The emptied slots are given back once they are half the array: amortized O(1).
            if head * 2 >= slots.count {
                slots.removeFirst(head)
                head = 0
            }
        }
    }

    /// The most records and bytes (values, keys, headers) the window holds.
    let maxRecords: Int
    let maxBytes: Int
    private let window: Mutex<Window>

    /// - Parameter next: the sequence number the next committed record gets (the store's
    ///   last plus one): the window starts empty there, so an outbox that is empty at start is
    ///   read from here at once, and one that is not is read from the file up to it.
    init(next: Int64, maxRecords: Int = 8192, maxBytes: Int = 16 << 20) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        window = Mutex(Window(first: next))
    }

    /// Adds committed records (consecutive sequence numbers, following the window's last: a
    /// failed batch adds nothing, and its numbers are handed out again). Records that do not
    /// follow start the window over, so that it never holds a gap whatever calls it.
    func add(_ added: [OutboxStore.PendingRecord]) {
        guard let start = added.first?.seq else { return }
        window.withLock { window in
            if start != window.next { window = Window(first: start) }
            for record in added {
                window.append(record)
                while window.count > maxRecords || window.bytes > maxBytes { window.removeFirst() }
            }
        }
    }

    /// Drops the records at or below `seq` (the publish mark passed them).
    func drop(through seq: Int64) {
        window.withLock { window in
            while window.count > 0 && window.first <= seq { window.removeFirst() }
        }
    }

    /// The records after `seq`, as ``OutboxStore/pending(after:limit:maxBytes:)`` returns them;
    /// nil when the window does not start at or before `seq + 1` (read the file instead).
    func records(after seq: Int64, limit: Int, maxBytes: Int) -> [OutboxStore.PendingRecord]? {
        window.withLock { window in
            // Empty and starting at `seq + 1`: nothing was committed after `seq`.
            guard window.first <= seq + 1 else { return nil }
            var taken: [OutboxStore.PendingRecord] = []
            var bytes = 0
            var index = window.head + Int(max(0, seq + 1 - window.first))
            while index < window.slots.count && taken.count < limit, let record = window.slots[index] {
                if !taken.isEmpty && bytes + record.size > maxBytes { break }
                bytes += record.size
                taken.append(record)
                index += 1
            }
            return taken
        }
    }

    /// How many records the window holds (for tests).
    var count: Int { window.withLock { $0.count } }
}

extension OutboxStore.PendingRecord {
    /// What a round's byte bound counts: the value, the key and the headers.
    var size: Int {
        (key?.count ?? 0) + value.count + headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
    }
}
