import Foundation
import Logging
import OkraEnvelope

/// swift-log handler writing one JSON object per line to stderr:
/// `{"time":"...","level":"info","logger":"okra-bridge","message":"...", ...metadata}`.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    private let label: String

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func field(_ name: String, _ value: String) {
            out.append(out.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONWriter.writeString(name, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.writeString(value, into: &out)
        }
        field("time", RFC3339.milliseconds(Date()))
        field("level", event.level.rawValue)
        field("logger", label)
        field("message", "\(event.message)")
        if event.source != label && !event.source.isEmpty { field("source", event.source) }
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { field(key, "\(merged[key]!)") }
        out.append(contentsOf: "}\n".utf8)
        FileHandle.standardError.write(Data(out))
    }
}

/// The log of the trace exporter (swift-otel's diagnostic lines): its messages and the names of
/// its metadata, never their values but an error's. It writes each configuration value it
/// applies, and `OTEL_EXPORTER_OTLP_HEADERS` holds the collector's credential.
struct ExporterLogHandler: LogHandler {
    private var inner: JSONLogHandler

    init(_ inner: JSONLogHandler) { self.inner = inner }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        // The logger's own metadata too: swift-otel sets the values there, not on the line.
        var handler = inner
        let merged = handler.metadata.merging(event.metadata ?? [:]) { $1 }
        handler.metadata = [:]
        var event = event
        event.metadata = merged.reduce(into: [:]) { kept, pair in
            kept[pair.key] = pair.key == "error" || pair.key.hasSuffix("_key") || pair.key == "component" ? pair.value : "(not shown)"
        }
        handler.log(event: event)
    }
}
