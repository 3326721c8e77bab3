import Testing

@testable import OkraKafka

/// The producer's lifecycle on its own: no librdkafka handle, no sockets.
@Suite("KafkaProducer state machine")
struct ProducerStateMachineTests {
    static let fatal = KafkaError(.fatal, "the producer hit a fatal error", isRetriable: true, librdkafkaName: "UNKNOWN_PRODUCER_ID")

    @Test("a running producer produces; a shutting-down one refuses with a retriable shutdown error")
    func sends() {
        var machine = KafkaProducer.StateMachine()
        guard case .produce = machine.send() else {
            Issue.record("a running producer produces")
            return
        }
        #expect(machine.shutdown() == .flushAndClose)
        guard case .fail(let error) = machine.send() else {
            Issue.record("a producer that is shutting down refuses new messages")
            return
        }
        #expect(error.code == .shutdown)
        #expect(error.isRetriable)
    }

    @Test("only the first shutdown flushes; later callers wait for it")
    func shutdownOnce() {
        var machine = KafkaProducer.StateMachine()
        #expect(machine.shutdown() == .flushAndClose)
        #expect(machine.shutdown() == .waitForClose)
        #expect(machine.closed().code == .shutdown)
        #expect(machine.phase == .closed)
        #expect(machine.shutdown() == .waitForClose)
    }

    @Test("the first fatal error fails the waiters and purges, later ones do nothing, and sends throw it")
    func fatal() {
        var machine = KafkaProducer.StateMachine()
        #expect(machine.watchesForStalls)
        #expect(machine.fatalErrorOccurred(Self.fatal) == .failWaitersAndPurge)
        #expect(machine.fatalErrorOccurred(KafkaError(.fatal, "another", isRetriable: true)) == .none)
        #expect(machine.fatal?.reason == Self.fatal.reason)
        #expect(!machine.watchesForStalls)
        guard case .fail(let error) = machine.send() else {
            Issue.record("a fatal producer refuses new messages")
            return
        }
        #expect(error.librdkafkaName == "UNKNOWN_PRODUCER_ID")
    }

    @Test("after a fatal error, purged deliveries report the fatal error itself; other failures keep their own")
    func deliveryFailures() {
        var machine = KafkaProducer.StateMachine()
        #expect(machine.deliveryFailure(.purgedInFlight, topic: "t").code == .shutdown)
        _ = machine.fatalErrorOccurred(Self.fatal)
        #expect(machine.deliveryFailure(.purgedInFlight, topic: "t").librdkafkaName == "UNKNOWN_PRODUCER_ID")
        let timedOut = machine.deliveryFailure(.messageTimedOut, topic: "orders")
        #expect(timedOut.code == .messageTimedOut)
        #expect(timedOut.reason.contains("orders"))
    }

    @Test("an enqueue refused because the producer is fatal throws the fatal error once it is known")
    func enqueueFailures() {
        var machine = KafkaProducer.StateMachine()
        #expect(machine.enqueueFailure(.fatal, topic: "t").code == .fatal)
        #expect(machine.enqueueFailure(.messageTimedOut, topic: "t").code == .messageTimedOut)
        _ = machine.fatalErrorOccurred(Self.fatal)
        #expect(machine.enqueueFailure(.fatal, topic: "t").librdkafkaName == "UNKNOWN_PRODUCER_ID")
    }
}
