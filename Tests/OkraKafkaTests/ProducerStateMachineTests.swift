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

    @Test("only the first shutdown flushes; callers meanwhile wait for it; after close there is nothing to do")
    func shutdownOnce() {
        var machine = KafkaProducer.StateMachine()
        #expect(machine.shutdown() == .flushAndClose)
        #expect(machine.shutdown() == .waitForClose)
        #expect(machine.closed().code == .shutdown)
        #expect(machine.phase == .closed)
        #expect(machine.shutdown() == .none)
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

/// `--kafka` settings as the producer configuration reads them.
@Suite("KafkaProducerConfiguration overrides")
struct ProducerConfigurationTests {
    @Test("message.timeout.ms from --kafka is the one the stall watch uses; 0 means no limit and the grace alone")
    func messageTimeoutIsShared() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "")
        configuration.deliveryStallGrace = .seconds(10)
        try configuration.apply(["message.timeout.ms": "120000"])
        #expect(configuration.messageTimeout == .seconds(120))
        #expect(configuration.stallLimit == .seconds(130))
        #expect(configuration.librdkafkaProperties.contains { $0 == ("message.timeout.ms", "120000") })
        #expect(!configuration.librdkafkaProperties.contains { $0.0 == "message.timeout.ms" && $0.1 != "120000" })
        try configuration.apply(["message.timeout.ms": "0"])
        #expect(configuration.stallLimit == .seconds(10))
    }

    @Test("settings that weaken delivery are configuration errors naming the property")
    func weakeningIsRefused() {
        for (name, value) in [("acks", "0"), ("acks", "1"), ("enable.idempotence", "false"), ("max.in.flight", "10"), ("message.timeout.ms", "soon")] {
            var configuration = KafkaProducerConfiguration(bootstrapServers: "")
            let error = #expect(throws: KafkaError.self) { try configuration.apply([name: value]) }
            #expect(error?.code == .configuration)
            #expect(error?.reason.contains(name) == true)
        }
    }

    @Test("other properties pass through to librdkafka unchanged")
    func passThrough() throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "")
        try configuration.apply(["compression.type": "lz4", "queue.buffering.max.messages": "5000"])
        #expect(configuration.properties["compression.type"] == "lz4")
        #expect(configuration.maxInFlightMessages == 5000)
    }
}
