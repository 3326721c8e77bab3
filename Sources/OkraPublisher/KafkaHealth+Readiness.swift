import OkraIngest
import OkraKafka

extension KafkaHealth.Status {
    /// The health's state as `/readyz` shows it.
    public var readiness: SinkReadiness.Kafka {
        switch state {
        case .unknown: .unknown
        case .ok: .ok
        case .failing: SinkReadiness.Kafka(.failing, kind: kind?.rawValue, reason: reason)
        }
    }
}
