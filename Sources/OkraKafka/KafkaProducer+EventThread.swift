import Foundation

// The producer's event thread: delivery reports to their waiters, errors, the stall watch.
extension KafkaProducer {
    /// Serves the main event queue until shutdown stops it.
    func serveEvents() {
        var watch = StallWatch()
        var lastStallCheck = ContinuousClock.now
        while running.load(ordering: .acquiring) {
            if ContinuousClock.now - lastStallCheck >= .seconds(1) {
                lastStallCheck = .now
                checkForStall(&watch)
            }
            switch rdkafka.nextEvent(timeoutMilliseconds: 1000) {
            case .deliveryReports(let reports)?:
                complete(reports)
            case .error(let error)?:
                if let health {
                    health.failed(error)
                } else {
                    logger.warning("Kafka producer error: \(error.reason)", metadata: ["kafka.error": "\(error.librdkafkaName ?? "-")"])
                }
            case .fatal(let error)?:
                becomeFatal(error)
            case .statistics(let json)?:
                state.withLock { $0.statistics = json }
            case .other?, nil:
                break
            }
        }
    }

    /// Hands each report to its waiter; the waiters are taken under the lock, completed outside.
    private func complete(_ reports: [RDKafkaDeliveryReport]) {
        let (promises, lifecycle) = state.withLock { (state: inout State) -> ([PendingDelivery?], StateMachine) in
            let promises = reports.map { state.deliveries.take($0.id) }
            state.deliveries.compact()
            return (promises, state.lifecycle)
        }
        var delivered = false
        var failures: [KafkaErrorKind: (error: KafkaError, count: Int)] = [:]
        for (promise, report) in zip(promises, reports) {
            guard let promise else { continue }
            if report.code.isSuccess {
                delivered = true
                promise.complete(.success(KafkaDeliveryReport(topic: promise.topic, partition: report.partition, offset: report.offset)))
            } else {
                let error = lifecycle.deliveryFailure(report.code, topic: promise.topic)
                // The fatal error itself was reported when it happened, not once per message it failed.
                if let kind = error.kind, error.code != .fatal { failures[kind] = (error, (failures[kind]?.count ?? 0) + 1) }
                promise.complete(.failure(error))
            }
        }
        guard let health else { return }
        for (error, count) in failures.values { health.failed(error, count: count) }
        if delivered { health.succeeded() }
    }

    /// Declares the producer stuck when the same message has been the oldest in flight for
    /// longer than the stall limit (`message.timeout.ms` plus the stall grace: librdkafka promised
    /// a report by then; the grace alone when the timeout is unlimited).
    private func checkForStall(_ watch: inout StallWatch) {
        let limit = configuration.stallLimit
        let oldest = state.withLock { (state: inout State) in state.lifecycle.watchesForStalls ? state.deliveries.oldestPendingID : nil }
        guard watch.observe(oldestPendingID: oldest, at: .now, limit: limit) else { return }
        becomeFatal(KafkaError(
            .fatal,
            "no delivery report for over \(limit) (the stall limit: message.timeout.ms plus the stall grace): librdkafka is retrying without progress, as when a broker is away or lost the producer's state; the producer must be recreated",
            isRetriable: true
        ))
    }

    /// Records a fatal error, fails every waiting sender with it, and purges librdkafka's queues.
    func becomeFatal(_ fatal: KafkaError) {
        let waiters = state.withLock { (state: inout State) -> [PendingDelivery]? in
            switch state.lifecycle.fatalErrorOccurred(fatal) {
            case .failWaitersAndPurge: return state.deliveries.takeAll()
            case .none: return nil
            }
        }
        guard let waiters else { return }
        if let health {
            health.failed(fatal)
        } else {
            logger.error("Kafka producer fatal error; it must be recreated", metadata: ["kafka.error": "\(fatal.librdkafkaName ?? "")", "kafka.reason": "\(fatal.reason)"])
        }
        for promise in waiters { promise.complete(.failure(fatal)) }
        // Whatever librdkafka still holds is reported later against no waiter.
        rdkafka.purge(blocking: false)
    }
}
