/// Watches the oldest in-flight message: it is stalled when the same message stays the oldest
/// for longer than the limit (observed from the first time it was seen as the oldest).
struct StallWatch {
    private var oldestID: UInt?
    private var since: ContinuousClock.Instant?

    /// Records what is the oldest pending message now; true when it has been so for over `limit`.
    mutating func observe(oldestPendingID: UInt?, at now: ContinuousClock.Instant, limit: Duration) -> Bool {
        guard let oldestPendingID else {
            oldestID = nil
            since = nil
            return false
        }
        guard oldestID == oldestPendingID, let since else {
            oldestID = oldestPendingID
            since = now
            return false
        }
        return now - since > limit
    }
}
