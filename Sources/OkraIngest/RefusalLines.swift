import Logging
import Synchronization

/// Refused webhooks in the process log: one line per reason and remote address at most once
/// per `interval`, with how many that pair had since its last line (the counters carry the
/// rate). A line names the reason and the address, never a token or a body.
final class RefusalLines: Sendable {
    private struct Key: Hashable {
        let reason: String
        let address: String
    }

    private struct Seen {
        var lastLine: ContinuousClock.Instant
        var since: Int
    }

    /// More pairs than this (a flood from many addresses) and the table starts over: lines
    /// then come once per pair again, never more often than the requests themselves.
    static let maxPairs = 4096

    private let seen = Mutex<[Key: Seen]>([:])
    private let interval: Duration
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant

    init(logger: Logger, interval: Duration = .seconds(60), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.logger = logger
        self.interval = interval
        self.now = now
    }

    /// Notes one refusal; logs it when its pair had no line within the interval.
    func refused(_ reason: String, address: String?) {
        let key = Key(reason: reason, address: address ?? "unknown")
        let at = now()
        let count: Int? = seen.withLock { table in
            if var entry = table[key], at - entry.lastLine < interval {
                entry.since += 1
                table[key] = entry
                return nil
            }
            let count = (table[key]?.since ?? 0) + 1
            if table[key] == nil && table.count >= Self.maxPairs { table.removeAll(keepingCapacity: true) }
            table[key] = Seen(lastLine: at, since: 0)
            return count
        }
        guard let count else { return }
        logger.warning("webhook refused", metadata: ["reason": "\(reason)", "remote.address": "\(key.address)", "refused.count": "\(count)",
                                                     "next_line_after": "\(interval)"])
    }
}

extension SenderCheck.Refusal {
    /// The reason a refusal's log line gives.
    var logReason: String {
        switch self {
        case .unauthorized: "unauthorized"
        case .addressNotAllowed: "address_not_allowed"
        case .environmentMismatch: "environment_mismatch"
        }
    }
}
