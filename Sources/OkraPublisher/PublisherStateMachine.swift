import OkraKafka
import OkraStore

/// The publisher's policy as values: what one round's deliveries mean for the publish mark
/// (``RoundTally``), and what to do after the round (``PublisherStateMachine``). Neither does
/// I/O, so both are tested without a broker or a store.

/// What one round of the outbox publisher came to, record by record in outbox order.
///
/// The mark moves over delivered records, and over records Kafka refused for good (those are
/// parked in the same transaction), as long as no retriable failure came before them: a record
/// after a retriable failure is sent again next round, so each key's records keep their order.
struct RoundTally {
    /// Records handed to the producer.
    private(set) var sent = 0
    /// Records with a successful delivery report (gap or not).
    private(set) var delivered = 0
    /// Records that failed for a reason a retry can fix (they and all after them are sent again).
    private(set) var failed = 0
    /// Whether a failure was the producer's fatal error.
    private(set) var fatal = false
    /// The first retriable failure, for the log line.
    private(set) var firstError: KafkaError?
    /// The highest sequence number the mark may move to.
    private(set) var mark: Int64?
    /// Delivered records the mark passes.
    private(set) var published = 0
    /// The same, by topic (counted in runs: consecutive records mostly share a topic).
    private(set) var publishedByTopic: [String: Int] = [:]
    /// Records refused for good that the mark passes: they leave the outbox for the parked table.
    private(set) var parking: [OutboxStore.Parking] = []
    private var gap = false
    private var run: (topic: String, count: Int)?

    /// A record was handed to the producer.
    mutating func enqueued() { sent += 1 }

    /// The next record in order was delivered.
    mutating func delivered(seq: Int64, topic: String) {
        delivered += 1
        guard !gap else { return }
        mark = seq
        published += 1
        if run?.topic == topic {
            run!.count += 1
        } else {
            flushRun()
            run = (topic, 1)
        }
    }

    /// Whether a retriable failure came before the next record (it will not be marked).
    var hasGap: Bool { gap }

    /// The next record in order could not be enqueued or delivered. Refused for good, it is
    /// parked (once no retriable failure came before it); otherwise no later record of this
    /// round is marked.
    mutating func failed(seq: Int64, error: KafkaError) {
        if !error.isRetriable {
            guard !gap else { return } // parked when it comes first again
            mark = seq
            parking.append(OutboxStore.Parking(seq: seq, reason: Self.reason(error), error: error.description))
            return
        }
        gap = true
        failed += 1
        fatal = fatal || error.code == .fatal
        firstError = firstError ?? error
    }

    /// The per-topic counts, once every record was reported.
    mutating func finish() { flushRun() }

    /// The `reason` label and column of a record Kafka refused for good: its kind
    /// (`message_too_large`, `unknown_topic`, `topic_authorization`, `invalid_topic`, or
    /// `unclassified` after `--park-after`).
    static func reason(_ error: KafkaError) -> String {
        error.kind?.rawValue ?? "other"
    }

    /// The reasons a record is parked for, whose counters exist at 0 from the start.
    static let parkReasons: [KafkaErrorKind] = [.messageTooLarge, .unknownTopic, .topicAuthorization, .invalidTopic, .unclassified]

    private mutating func flushRun() {
        if let run { publishedByTopic[run.topic, default: 0] += run.count }
        run = nil
    }
}

/// What the publisher does between rounds: wait for records, pause to let a small round's
/// successors gather, go on at once, or back off (doubling up to a bound) and perhaps replace
/// the producer.
struct PublisherStateMachine {
    /// The publisher's next step.
    enum Action: Equatable {
        /// The outbox was empty: wait until a record is stored (or the idle poll ends).
        case waitForRecords
        /// A small round: pause this long so the next round is larger.
        case gather(Duration)
        /// A full round: go on at once.
        case next
        /// Something failed: wait this long, then retry from the oldest unpublished record,
        /// with a new producer first when `replaceProducer`.
        case retry(after: Duration, replaceProducer: Bool)
    }

    /// Records per round.
    let batchSize: Int
    /// The pause after a round of fewer than a quarter of `batchSize` records.
    let gather: Duration
    /// The first backoff after a failure.
    let initialBackoff: Duration
    /// The longest backoff.
    let maxBackoff: Duration
    /// The wait before the next retry.
    private(set) var backoff: Duration

    init(batchSize: Int, gather: Duration, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration) {
        self.batchSize = batchSize
        self.gather = gather
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.backoff = initialBackoff
    }

    /// The store could not be read or written (busy, an I/O error): back off and try again,
    /// never give up, since what it holds was acknowledged.
    mutating func storeFailed() -> Action {
        let action = Action.retry(after: backoff, replaceProducer: false)
        backoff = min(backoff * 2, maxBackoff)
        return action
    }

    /// A round ended with `tally`.
    mutating func roundEnded(_ tally: RoundTally) -> Action {
        guard tally.failed > 0 else {
            backoff = initialBackoff
            if tally.sent == 0 { return .waitForRecords }
            // A small round: let records gather briefly, so that rounds (a read, a produce
            // request per partition, a mark) are fewer and larger.
            return tally.sent < batchSize / 4 ? .gather(gather) : .next
        }
        // A fatal producer delivers nothing more; one that delivered nothing in a failed round
        // may be stuck against a broker that lost its state.
        let action = Action.retry(after: backoff, replaceProducer: tally.fatal || tally.delivered == 0)
        backoff = min(backoff * 2, maxBackoff)
        return action
    }
}

/// How long a code the bridge does not classify may keep failing the oldest unpublished records
/// before they are parked (`--park-after`, §6): retried with the usual backoff until then, so a
/// passing condition does not break a key's order, and a lasting one does not stall the outbox
/// for good. The clock is the code's, not a record's: once a code has failed the oldest record
/// for the limit without a break, each record it fails next is parked at once, so a run of such
/// records costs one wait, not one each. A delivery, or another error first, starts it over. A
/// timer of its own, not a delivery timer.
struct ParkAfter {
    /// The time a code may keep failing before the record it fails is parked.
    let limit: Duration
    /// The code failing the oldest record now, and since when.
    private(set) var failing: (code: String, since: ContinuousClock.Instant)?

    init(limit: Duration) { self.limit = limit }

    /// The error to tally for the first failed record of a round: an unclassified code that has
    /// failed the oldest records for `limit` becomes a refusal for good, naming the code.
    mutating func judge(_ error: KafkaError, now: ContinuousClock.Instant) -> KafkaError {
        guard error.code == .unclassified else {
            failing = nil
            return error
        }
        let code = error.librdkafkaName ?? error.reason
        guard let failing, failing.code == code else {
            self.failing = (code, now)
            return error
        }
        guard now - failing.since >= limit else { return error }
        return KafkaError(.unclassified, "\(error.reason): a code the bridge does not classify, failing for \(now - failing.since) (--park-after \(limit))",
                          isRetriable: false, librdkafkaName: error.librdkafkaName)
    }

    /// A round ended with no failure judged: nothing is failing now.
    mutating func cleared() { failing = nil }
}

/// The publisher's "delivery failing" line, written at most once per interval with the failed
/// rounds and producer replacements since the last one (an outage retries every few seconds).
struct RetryLines {
    let interval: Duration
    private var lastLine: ContinuousClock.Instant?
    private var rounds = 0
    private var replacements = 0
    private var afterFatal = 0

    init(interval: Duration) { self.interval = interval }

    /// The producer was replaced: after a fatal error, or after a round that delivered nothing.
    mutating func replaced(fatal: Bool) {
        replacements += 1
        if fatal { afterFatal += 1 }
    }

    /// A round failed: the counts for a line, when one is due.
    mutating func failedRound(now: ContinuousClock.Instant) -> (rounds: Int, replaced: Int, afterFatal: Int)? {
        rounds += 1
        if let lastLine, now - lastLine < interval { return nil }
        defer { (lastLine, rounds, replacements, afterFatal) = (now, 0, 0, 0) }
        return (rounds, replacements, afterFatal)
    }
}
