import Logging
import Synchronization

/// A swift-log handler that keeps every line, so tests can check what was logged.
final class CapturingLogHandler: LogHandler, Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var source: String
        /// The line's metadata, each value as text.
        var metadata: [String: String] = [:]
    }

    let lines = Mutex<[Line]>([])
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }

    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).mapValues { "\($0)" }
        lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", source: event.source, metadata: metadata)) }
    }

    var captured: [Line] { lines.withLock { $0 } }

    /// A logger writing into a new capturing handler.
    static func logger() -> (Logger, CapturingLogHandler) {
        let handler = CapturingLogHandler()
        return (Logger(label: "test") { _ in handler }, handler)
    }
}
