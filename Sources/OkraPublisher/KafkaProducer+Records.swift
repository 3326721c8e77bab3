import OkraKafka
import OkraRouting
import OkraStore

/// The one mapping from the bridge's records to Kafka messages, for both delivery modes.
extension KafkaProducer {
    /// Enqueues a record routing just made (direct delivery).
    func send(_ record: RoutedRecord) throws(KafkaError) -> KafkaDelivery {
        try send(topic: record.topic, key: record.key.map { Array($0.utf8) }, value: record.value, headers: Self.headers(record.headers))
    }

    /// Enqueues a record from the outbox (durable delivery).
    func send(_ record: OutboxStore.PendingRecord) throws(KafkaError) -> KafkaDelivery {
        try send(topic: record.topic, key: record.key, value: record.value, headers: Self.headers(record.headers))
    }

    private static func headers(_ pairs: [(name: String, value: String)]) -> [KafkaHeader] {
        pairs.map { KafkaHeader($0.name, $0.value) }
    }
}
