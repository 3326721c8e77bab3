import Foundation
import OkraEnvelope

// The audit trail (§9): who did what to the event log, from which token, when, on what.

/// An operator action the audit trail records.
public enum AuditAction: String, Sendable, CaseIterable, Codable {
    /// Entries listed with their data under `read-pii`.
    case listWithPersonalData = "list-pii"
    /// An entry shown with its personal data (`read-pii`).
    case showWithPersonalData = "show-pii"
    /// An export (its scope says whether personal data was in it).
    case export
    /// A replay's dry run.
    case replayDryRun = "replay-dry-run"
    /// A replay executed.
    case replay
    /// Parked records redriven.
    case redrive
    /// Parked records discarded.
    case discard
    /// One customer's entries erased.
    case erase
    /// The admin token file reloaded (by the file's change or SIGHUP: no token did it).
    case adminTokensReload = "admin-tokens-reload"
    /// The webhook token file reloaded.
    case webhookTokensReload = "webhook-tokens-reload"
}

/// One line of the audit trail.
public struct AuditRecord: Sendable, Equatable {
    /// Its place in the trail (0 until stored; increasing; the cursor of listings).
    public var seq: Int64
    /// When (milliseconds since 1970).
    public var atMilliseconds: Int64
    /// The token's name from its line in the token file (`admin` for a bare token); for a
    /// reload, the file's path.
    public var token: String
    /// The scope the action used (nil for a reload).
    public var scope: AdminScope?
    /// What was done.
    public var action: AuditAction
    /// The filter it was about (query keys and texts), when one was given.
    public var filter: [String: String]?
    /// The ids it named (event ids, parked ids, a customer id, token names).
    public var ids: [String]?
    /// How many it touched (entries, records, tokens).
    public var count: Int
    /// Why the action failed, or stopped part way (its message says how far it got); nil when it succeeded.
    public var error: String?

    /// A line of the trail.
    public init(seq: Int64 = 0, atMilliseconds: Int64, token: String, scope: AdminScope?, action: AuditAction,
                filter: [String: String]? = nil, ids: [String]? = nil, count: Int, error: String? = nil) {
        self.seq = seq
        self.atMilliseconds = atMilliseconds
        self.token = token
        self.scope = scope
        self.action = action
        self.filter = filter
        self.ids = ids
        self.count = count
        self.error = error
    }
}

/// What an erasure did (§9's `events erase --customer`).
public struct Erasure: Sendable, Equatable {
    /// Entries removed now.
    public var erased: Int
    /// Entries whose records are still on their way to Kafka: removed once delivered (the
    /// store's upkeep finishes the erasure).
    public var waiting: Int
    /// Parked records removed.
    public var parked: Int

    /// An erasure's counts.
    public init(erased: Int, waiting: Int, parked: Int) {
        self.erased = erased
        self.waiting = waiting
        self.parked = parked
    }
}

/// The audit trail and erasure, on the same store as the event log.
public protocol AuditTrail: Sendable {
    /// Writes `record` to the process log, then appends it to the trail. Throws
    /// ``OperationsUnavailable`` when the trail cannot keep it (the log line is written all the same).
    func audit(_ record: AuditRecord) async throws
    /// Lines recorded in `since..<until`, newest first, at most `limit`, before `cursor`; and the
    /// cursor of the next page.
    func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?)
    /// Removes every entry of `customer` and its parked records (§9); entries with records
    /// still pending are removed once those are delivered.
    func erase(customer: String) async throws -> Erasure
}
