import Logging
import Synchronization

/// A swift-log handler that keeps every line, so tests can check what was logged.
public final class CapturingLogHandler: LogHandler, Sendable {
    /// One line as it was logged.
    public struct Line: Sendable {
        /// Its level.
        public var level: Logger.Level
        /// Its message.
        public var message: String
        /// The module (or `source:`) that logged it.
        public var source: String
        /// The line's metadata, each value as text.
        public var metadata: [String: String] = [:]
    }

    private let lines = Mutex<[Line]>([])

    /// A handler with no lines yet.
    public init() {}

    /// None: lines keep only their own metadata.
    public var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    /// Every level is kept.
    public var logLevel: Logger.Level {
        get { .trace }
        set {}
    }

    /// None: lines keep only their own metadata.
    public subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    /// Keeps the line.
    public func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).mapValues { "\($0)" }
        lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", source: event.source, metadata: metadata)) }
    }

    /// The lines so far, oldest first.
    public var captured: [Line] { lines.withLock { $0 } }

    /// A logger writing into a new capturing handler.
    public static func logger() -> (Logger, CapturingLogHandler) {
        let handler = CapturingLogHandler()
        return (Logger(label: "test") { _ in handler }, handler)
    }
}
