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
