import CRDKafka

/// The librdkafka the process loaded (which may be newer than the one it was built against:
/// the shim uses only calls librdkafka keeps from release to release).
public enum KafkaLibrary {
    /// `rd_kafka_version_str()`, e.g. `2.0.2`.
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// The `builtin.features` of this build of librdkafka (`gzip,snappy,ssl,sasl,...`): whether
    /// it can speak TLS, SASL/SCRAM, OAUTHBEARER or Kerberos, and which codecs it has.
    public static var builtinFeatures: String {
        guard let conf = rd_kafka_conf_new() else { return "unknown" }
        defer { rd_kafka_conf_destroy(conf) }
        var size = 0
        guard rd_kafka_conf_get(conf, "builtin.features", nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return "unknown" }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, "builtin.features", &buffer, &size) == RD_KAFKA_CONF_OK else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
