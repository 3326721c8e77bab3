import CRDKafka

/// Builds an `rd_kafka_conf_t` from property pairs, naming the property that librdkafka rejects.
enum RDKafkaConfig {
    /// Property names whose values are never repeated in errors or logs.
    static func isSecret(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.contains("password") || lower.contains("secret") || lower.hasSuffix(".key.pem")
            || lower.contains("sasl.oauthbearer.config") || lower.hasSuffix("key.location")
    }

    /// A new configuration with every pair set in order; throws a `.configuration` error for
    /// the first property librdkafka does not know or does not accept.
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, "librdkafka could not allocate a configuration", isRetriable: false)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let detail: String
                if isSecret(name) {
                    detail = "value rejected"
                } else {
                    detail = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
                let kind = result == RD_KAFKA_CONF_UNKNOWN ? "unknown librdkafka property" : "invalid value for librdkafka property"
                throw KafkaError(.configuration, "\(kind) '\(name)': \(detail)", isRetriable: false)
            }
        }
        return conf
    }
}
