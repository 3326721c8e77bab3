import ArgumentParser
import OkraKafka

/// The flags of `serve`, which `check` takes too: a preflight reads exactly what the bridge
/// will read. Each flag's variable and default are in ``ServeSettings``.
struct ServeOptions: ParsableArguments {
    @Option(help: "Address to listen on (host:port).") var listen: String?
    @Option(help: "Kafka bootstrap servers (host:port,...). Required.") var brokers: String?
    @Option(help: "The routes file.") var routes: String?
    @Option(help: "Folder of the durable store.") var dataDir: String?
    @Option(help: "ENV=SECRET with ENV production or sandbox; repeat for rotation. Visible in the process list: prefer --token-file.") var token: [String] = []
    @Option(help: "A file of ENV=SECRET lines (# comments), re-read on change and on SIGHUP: rotate tokens without a restart.") var tokenFile: String?
    @Option(help: "durable or direct.") var delivery: String?
    @Option(help: "Largest body accepted (bytes, KiB or MiB); the default makes every record fit Kafka's default 1 MB limit.") var maxBody: String?
    @Option(help: "How long a duplicate id is suppressed (e.g. 73h, 30m, 90s).") var dedupeWindow: String?
    @Option(help: "Allowed sender address or CIDR, or 'okra' for Okra's three; repeatable. Default: any.") var allowIp: [String] = []
    @Option(help: "Proxy address or CIDR whose X-Forwarded-For is believed; repeatable.") var trustedProxy: [String] = []
    @Flag(help: "Run without tokens, accepting any sender (a usage error together with tokens).") var allowUnauthenticated = false
    @Option(help: "Any librdkafka property as KEY=VALUE; repeatable (security.protocol, compression...). Secrets such as sasl.password belong in --kafka-config: argv is visible to every user.") var kafka: [String] = []
    @Option(help: "Most unpublished records the store holds before answering 503.") var maxPending: String?
    @Option(help: "Most bytes of request bodies read or processed at once (bytes, KiB or MiB); more concurrent bodies get 503.") var maxInflightBody: String?
    @Option(help: "Space kept free on the data volume in a reserve file, released when the volume fills so the bridge can drain (bytes, KiB or MiB; 0 for none).") var storeReserve: String?
    @Option(help: "A second listener (host:port) for /metrics, /readyz, /healthz and the operations API; /metrics then leaves --listen.") var adminListen: String?
    @Option(help: "An operate admin token named admin (at least 16 characters): /metrics and the operations API need a token. Prefer --admin-token-file.") var adminToken: String?
    @Option(help: "The admin tokens: NAME:SCOPE[,SCOPE...]=SECRET lines (scopes metrics, read, read-pii, operate), or one bare operate token. Re-read on change and SIGHUP.") var adminTokenFile: String?
    @Option(help: "A file of librdkafka properties, KEY=VALUE a line (# comments), for secrets such as sasl.password; --kafka overrides it.") var kafkaConfig: String?
    @Option(help: "How long the event log keeps an entry (e.g. 168h; 0 turns the log off).") var retain: String?
    @Option(help: "The event log's size at most, oldest dropped first (bytes, KiB, MiB or GiB).") var retainSize: String?
    @Option(help: "How long the audit trail keeps an operator's action (e.g. 365d).") var auditRetain: String?
    @Option(help: "The keys that seal the event log, the outbox and the parked records at rest: ID=BASE64 lines of 32-byte keys, the first sealing (docs/privacy.md).") var logKeyFile: String?
    @Flag(help: "Keep the event log in clear: without it (or --log-key-file) serve refuses to start with the log on, as the log holds customers' personal data.") var logUnencrypted = false
    @Option(help: "Most events one replay call routes again.") var maxReplay: String?
    @Option(help: "How long a Kafka error code the bridge does not classify may keep failing the oldest record before it is parked (e.g. 10m).") var parkAfter: String?
    @Option(help: "Time for a request's headers to arrive, from its first byte (or the accept); else 408 and close.") var headerTimeout: String?
    @Option(help: "Time for a request's body to arrive after its headers; else 408 and close.") var bodyTimeout: String?
    @Option(help: "Time a keep-alive connection may wait for its next request.") var idleTimeout: String?
    @Option(help: "Open connections per listener at most; one more is answered 503 and closed.") var maxConnections: String?
    @Option(help: "Open connections from one remote address per listener at most (--trusted-proxy addresses exempt); one more is answered 503 and closed.") var maxConnectionsPerAddress: String?
    @Option(help: "The lowest level logged: trace, debug, info, notice, warning, error or critical (debug adds a line per stored event).") var logLevel: String?
    @Option(help: "Export traces over OTLP/HTTP to this collector (a base URL: /v1/traces is added). OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turn tracing on too; off without any (docs/operations.md).") var otlpEndpoint: String?
}

extension ServeOptions {
    /// The flags of this command line that carry a secret, by name (`--kafka` by its property),
    /// never by value: every user of the machine can read them in the process list. The same
    /// settings from the environment or their files are not listed.
    var secretFlags: [String] {
        var flags: [String] = []
        if !token.isEmpty { flags.append("--token") }
        if adminToken != nil { flags.append("--admin-token") }
        for pair in kafka {
            let key = String(pair.prefix { $0 != "=" })
            if KafkaProducerConfiguration.holdsSecret(key.lowercased()) { flags.append("--kafka \(key)") }
        }
        return flags
    }
}
