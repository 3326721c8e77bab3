import Synchronization

/// A bound on the bytes of request bodies being read or processed at once, so that many
/// concurrent bodies near `--max-body` cannot exhaust memory: a request takes its share before
/// its body is read (its `Content-Length`, or `--max-body` when it has none) and gives it back
/// when it is answered. A request that finds no room is answered 503 with `Retry-After`.
public final class BodyBudget: Sendable {
    /// The most bytes in flight.
    public let limit: Int
    private let used = Mutex(0)

    /// A budget of `limit` bytes.
    public init(limit: Int) { self.limit = limit }

    /// Bytes taken now.
    public var inUse: Int { used.withLock { $0 } }

    /// Takes `bytes` when they fit; nil when the budget is spent (answer 503).
    public func take(_ bytes: Int) -> Share? {
        let taken = used.withLock { used -> Bool in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
        return taken ? Share(budget: self, bytes: bytes) : nil
    }

    fileprivate func giveBack(_ bytes: Int) {
        used.withLock { $0 -= bytes }
    }

    /// Bytes taken from a budget; given back by ``release()``, once.
    public final class Share: Sendable {
        private let budget: BodyBudget
        private let bytes: Int
        private let released = Atomic(false)

        fileprivate init(budget: BodyBudget, bytes: Int) {
            self.budget = budget
            self.bytes = bytes
        }

        /// Gives the bytes back (again: nothing).
        public func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            budget.giveBack(bytes)
        }

        deinit { release() }
    }
}
