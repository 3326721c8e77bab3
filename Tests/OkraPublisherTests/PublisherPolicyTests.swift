import OkraKafka
import Testing

@testable import OkraPublisher

/// The publisher's round policy as values: no store, no broker.
@Suite("Publisher policy")
struct PublisherPolicyTests {
    static let timeout = KafkaError(.messageTimedOut, "timed out", isRetriable: true)
    static let fatal = KafkaError(.fatal, "fatal", isRetriable: true)

    @Test("the mark moves over delivered records up to the first failure, never past it")
    func markStopsAtTheFirstGap() {
        var tally = RoundTally()
        for _ in 1...5 { tally.enqueued() }
        tally.delivered(seq: 11, topic: "a")
        tally.delivered(seq: 12, topic: "a")
        tally.failed(seq: 13, error: Self.timeout)
        tally.delivered(seq: 14, topic: "b")
        tally.delivered(seq: 15, topic: "b")
        tally.finish()
        #expect(tally.mark == 12)
        #expect(tally.published == 2)
        #expect(tally.delivered == 4)
        #expect(tally.failed == 1)
        #expect(tally.publishedByTopic == ["a": 2], "records after the gap are counted when sent again")
        #expect(tally.firstError?.code == .messageTimedOut)
        #expect(!tally.fatal)
    }

    @Test("a first record that fails leaves the mark where it was")
    func noMarkWhenTheFirstFails() {
        var tally = RoundTally()
        tally.enqueued()
        tally.enqueued()
        tally.failed(seq: 1, error: Self.fatal)
        tally.delivered(seq: 2, topic: "a")
        tally.finish()
        #expect(tally.mark == nil)
        #expect(tally.published == 0)
        #expect(tally.fatal)
    }

    @Test("published records are counted per topic across runs of the same topic")
    func perTopicRuns() {
        var tally = RoundTally()
        for (seq, topic) in zip(Int64(1)...6, ["a", "a", "b", "a", "c", "c"]) {
            tally.enqueued()
            tally.delivered(seq: seq, topic: topic)
        }
        tally.finish()
        #expect(tally.mark == 6)
        #expect(tally.publishedByTopic == ["a": 3, "b": 1, "c": 2])
    }

    static let tooLarge = KafkaError(.messageTooLarge, "too large", isRetriable: false)

    @Test("a record refused for good is parked as the mark passes it, and the records after it go on")
    func permanentFailureIsParked() {
        var tally = RoundTally()
        for _ in 1...3 { tally.enqueued() }
        tally.delivered(seq: 1, topic: "a")
        tally.failed(seq: 2, error: Self.tooLarge)
        tally.delivered(seq: 3, topic: "a")
        tally.finish()
        #expect(tally.mark == 3)
        #expect(tally.parking.map(\.seq) == [2])
        #expect(tally.parking.first?.reason == "message_too_large")
        #expect(tally.failed == 0, "a parked record is no failure of the round")
        #expect(tally.published == 2)
    }

    @Test("a record refused for good after a retriable failure waits, and is parked when it comes first")
    func permanentAfterGapWaits() {
        var tally = RoundTally()
        tally.delivered(seq: 1, topic: "a")
        tally.failed(seq: 2, error: Self.timeout)
        tally.failed(seq: 3, error: Self.tooLarge)
        tally.finish()
        #expect(tally.mark == 1)
        #expect(tally.parking.isEmpty)
        #expect(tally.failed == 1)
    }

    @Test("each kind of permanent refusal has its reason label")
    func reasons() {
        #expect(RoundTally.reason(Self.tooLarge) == "message_too_large")
        #expect(RoundTally.reason(KafkaError(.topic, "invalid topic", isRetriable: false)) == "invalid_topic")
        #expect(RoundTally.reason(KafkaError(.unknownTopic, "unknown topic", isRetriable: false)) == "unknown_topic")
        #expect(RoundTally.reason(KafkaError(.topicAuthorization, "denied", isRetriable: false)) == "topic_authorization")
        #expect(RoundTally.reason(KafkaError(.other, "?", isRetriable: false)) == "broker")
    }

    static func tally(sent: Int, delivered: Int = 0, failures: [KafkaError] = []) -> RoundTally {
        var tally = RoundTally()
        for _ in 0..<sent { tally.enqueued() }
        for seq in 0..<delivered { tally.delivered(seq: Int64(seq + 1), topic: "t") }
        for (index, failure) in failures.enumerated() { tally.failed(seq: Int64(delivered + index + 1), error: failure) }
        tally.finish()
        return tally
    }

    @Test("an empty outbox waits for records; a small round gathers; a full one goes on at once")
    func successfulRounds() {
        var policy = PublisherStateMachine(batchSize: 100, gather: .milliseconds(20), maxBackoff: .seconds(5))
        #expect(policy.roundEnded(Self.tally(sent: 0)) == .waitForRecords)
        #expect(policy.roundEnded(Self.tally(sent: 24, delivered: 24)) == .gather(.milliseconds(20)))
        #expect(policy.roundEnded(Self.tally(sent: 25, delivered: 25)) == .next)
        #expect(policy.roundEnded(Self.tally(sent: 100, delivered: 100)) == .next)
    }

    @Test("failures back off, doubling up to the bound, and a success starts over")
    func backoff() {
        var policy = PublisherStateMachine(batchSize: 100, gather: .milliseconds(20), maxBackoff: .milliseconds(500))
        let failing = Self.tally(sent: 10, delivered: 5, failures: [Self.timeout])
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(100), replaceProducer: false))
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(200), replaceProducer: false))
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(400), replaceProducer: false))
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(500), replaceProducer: false))
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(500), replaceProducer: false))
        _ = policy.roundEnded(Self.tally(sent: 100, delivered: 100))
        #expect(policy.roundEnded(failing) == .retry(after: .milliseconds(100), replaceProducer: false))
    }

    @Test("a fatal error, or a failed round with no delivery at all, replaces the producer")
    func replacement() {
        var policy = PublisherStateMachine(batchSize: 100, gather: .milliseconds(20), maxBackoff: .seconds(5))
        guard case .retry(_, true) = policy.roundEnded(Self.tally(sent: 10, delivered: 9, failures: [Self.fatal])) else {
            Issue.record("a fatal error replaces the producer")
            return
        }
        guard case .retry(_, true) = policy.roundEnded(Self.tally(sent: 10, delivered: 0, failures: [Self.timeout])) else {
            Issue.record("a round with no delivery replaces the producer")
            return
        }
        guard case .retry(_, false) = policy.roundEnded(Self.tally(sent: 10, delivered: 3, failures: [Self.timeout])) else {
            Issue.record("a round that delivered some keeps the producer")
            return
        }
    }

    @Test("--park-after: an unclassified code stays retriable until it has failed the oldest records for the limit without a break; then each record it fails is parked at once")
    func parkAfterUnclassified() {
        let unclassified = KafkaError(.unclassified, "Broker: Policy violation", isRetriable: true, librdkafkaName: "POLICY_VIOLATION")
        var watch = ParkAfter(limit: .seconds(600))
        let start = ContinuousClock.now
        #expect(watch.judge(unclassified, now: start).isRetriable)
        #expect(watch.judge(unclassified, now: start + .seconds(599)).isRetriable)
        let parked = watch.judge(unclassified, now: start + .seconds(600))
        #expect(!parked.isRetriable)
        #expect(parked.description.contains("POLICY_VIOLATION") && parked.description.contains("--park-after"))
        #expect(RoundTally.reason(parked) == "unclassified")
        // The next record the same code fails is parked at once: a run of them waits once.
        #expect(!watch.judge(unclassified, now: start + .seconds(601)).isRetriable)
        // Another unclassified code starts its own clock.
        let other = KafkaError(.unclassified, "Broker: Invalid record", isRetriable: true, librdkafkaName: "INVALID_RECORD")
        #expect(watch.judge(other, now: start + .seconds(700)).isRetriable)
        #expect(watch.judge(other, now: start + .seconds(1299)).isRetriable)
        #expect(!watch.judge(other, now: start + .seconds(1300)).isRetriable)
        // A known retriable error first (Kafka down) starts it over, and so does a round without failures.
        #expect(watch.judge(KafkaError(.transport, "down", isRetriable: true), now: start + .seconds(1400)).isRetriable)
        #expect(watch.judge(other, now: start + .seconds(2000)).isRetriable)
        watch.cleared()
        #expect(watch.failing == nil)
        #expect(watch.judge(other, now: start + .seconds(2001)).isRetriable)
    }
}

@Suite("Publisher retry lines")
struct RetryLinesTests {
    @Test("a failing outbox says so at most once a minute, with the rounds and producer replacements since its last line")
    func onceAMinute() {
        var lines = RetryLines(interval: .seconds(60))
        let start = ContinuousClock.now
        #expect(lines.failedRound(now: start).map { [$0.rounds, $0.replaced, $0.afterFatal] } == [1, 0, 0])
        for second in 1...50 {
            lines.replaced(fatal: second % 10 == 0)
            #expect(lines.failedRound(now: start + .seconds(second)) == nil, "second \(second)")
        }
        let line = lines.failedRound(now: start + .seconds(61))
        #expect(line.map { [$0.rounds, $0.replaced, $0.afterFatal] } == [51, 50, 5])
        #expect(lines.failedRound(now: start + .seconds(62)) == nil)
    }
}
