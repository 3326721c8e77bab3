// Test hooks: internal, reached only through `@testable import OkraKafka`.
extension KafkaProducer {
    /// Makes librdkafka raise a fatal error as if the broker had sent `UNKNOWN_PRODUCER_ID`,
    /// so the fatal path can be tested without a broker restart.
    func raiseFatalErrorForTesting() {
        rdkafka.raiseFatalErrorForTesting()
    }

    /// Makes the mock cluster (`test.mock.num.brokers`) answer the next `count` Produce
    /// requests with `UNKNOWN_PRODUCER_ID`, as a restarted broker that lost producer state does.
    func failNextProduceRequestsForTesting(_ count: Int) -> Bool {
        rdkafka.failNextProduceRequestsForTesting(count)
    }

    /// Makes the mock cluster answer the next `count` Produce requests with
    /// `TOPIC_AUTHORIZATION_FAILED`, a refusal no retry can fix.
    func refuseNextProduceRequestsForTesting(_ count: Int) -> Bool {
        rdkafka.failNextProduceRequestsForTesting(count, refusingTopic: true)
    }

    /// Makes the mock cluster answer the next `count` Produce requests with the broker error
    /// `code` (Kafka's protocol number, e.g. 44 for `POLICY_VIOLATION`).
    func failNextProduceRequestsForTesting(_ count: Int, brokerError code: Int32) -> Bool {
        rdkafka.failNextProduceRequestsForTesting(count, code: code)
    }

    /// Makes the mock cluster answer the next `count` requests of `apiKey` (22 InitProducerId,
    /// 36 SaslAuthenticate) with the broker error `code`.
    func failNextRequestsForTesting(apiKey: Int16, _ count: Int, brokerError code: Int32) -> Bool {
        rdkafka.failNextRequestsForTesting(apiKey: apiKey, count, code: code)
    }

    /// Clears the errors pushed for requests of `apiKey`.
    func clearRequestErrorsForTesting(apiKey: Int16) -> Bool {
        rdkafka.clearRequestErrorsForTesting(apiKey: apiKey)
    }

    /// The bootstrap address of this producer's mock cluster, for other clients.
    func mockClusterBootstrapsForTesting() -> String? {
        rdkafka.mockClusterBootstrapsForTesting()
    }

    /// Takes the mock cluster's broker down or up again.
    func setMockBrokerForTesting(up: Bool) -> Bool {
        rdkafka.setMockBrokerForTesting(up: up)
    }
}

extension KafkaError {
    /// The error librdkafka's code `code` (its number: -181 for `_SSL`, 31 for
    /// `CLUSTER_AUTHORIZATION_FAILED`) becomes, with `reason` as librdkafka's text when given.
    static func forTesting(librdkafkaCode code: Int32, reason: String? = nil) -> KafkaError {
        RDKafkaError.make(code: code, reason: reason)
    }
}
