extension KafkaProducer {
    /// The producer's lifecycle as a value: running, shutting down, closed, and whether a fatal
    /// error ended its deliveries. Each event returns what the producer must do; the state
    /// machine does no I/O, so it is tested without librdkafka.
    struct StateMachine {
        enum Phase: Equatable { case running, shuttingDown, closed }

        private(set) var phase = Phase.running
        /// The fatal error, once one happened; the producer delivers nothing more.
        private(set) var fatal: KafkaError?

        /// What a send does.
        enum SendAction {
            /// Hand the message to librdkafka.
            case produce
            /// Throw this instead.
            case fail(KafkaError)
        }

        /// A send was asked for.
        func send() -> SendAction {
            guard phase == .running else {
                return .fail(KafkaError(.shutdown, "the producer is shutting down and accepts no new messages", isRetriable: true))
            }
            if let fatal { return .fail(fatal) }
            return .produce
        }

        /// The error to throw when librdkafka refused to enqueue with `code`: the fatal error
        /// itself when the refusal comes from it.
        func enqueueFailure(_ code: RDKafkaCode, topic: String) -> KafkaError {
            if RDKafkaProducer.isFatal(code), let fatal { return fatal }
            return code.error(context: "could not enqueue a message for topic '\(topic)'")
        }

        /// What a shutdown call does.
        enum ShutdownAction: Equatable {
            /// The first call: flush, purge what is left, stop the event thread, close.
            case flushAndClose
            /// Another call is shutting down: wait until it has closed the producer (without
            /// holding any queue the first call needs).
            case waitForClose
            /// Closed already: nothing to do.
            case none
        }

        /// Shutdown was asked for.
        mutating func shutdown() -> ShutdownAction {
            switch phase {
            case .running:
                phase = .shuttingDown
                return .flushAndClose
            case .shuttingDown:
                return .waitForClose
            case .closed:
                return .none
            }
        }

        /// What a fatal error does.
        enum FatalAction: Equatable {
            /// The first: fail every waiter with it and purge librdkafka's queues.
            case failWaitersAndPurge
            /// A later one: nothing more to do.
            case none
        }

        /// librdkafka raised a fatal error, or the stall watch declared one.
        mutating func fatalErrorOccurred(_ error: KafkaError) -> FatalAction {
            guard fatal == nil else { return .none }
            fatal = error
            return .failWaitersAndPurge
        }

        /// Whether the stall watch looks at in-flight messages (not after a fatal error: they
        /// were all failed with it).
        var watchesForStalls: Bool { fatal == nil }

        /// The error a failed delivery report's sender gets.
        func deliveryFailure(_ code: RDKafkaCode, topic: String) -> KafkaError {
            if let fatal, code.followsFatalError { return fatal }
            return code.error(context: "delivery to topic '\(topic)' failed")
        }

        /// The event thread ended; returns the error for the waiters left over.
        mutating func closed() -> KafkaError {
            phase = .closed
            return KafkaError(.shutdown, "the producer shut down before the broker acknowledged this message", isRetriable: true)
        }
    }
}
