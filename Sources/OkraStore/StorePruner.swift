import Logging
import ServiceLifecycle

/// Deletes ids older than the dedupe window once a minute (published records leave the store
/// as the publish mark passes them).
public struct StorePruner: Service {
    private let store: OutboxStore
    private let logger: Logger
    private let interval: Duration

    /// Prunes `store` every `interval`.
    public init(store: OutboxStore, logger: Logger, interval: Duration = .seconds(60)) {
        self.store = store
        self.logger = logger
        self.interval = interval
    }

    /// Prunes until graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                do {
                    let removed = try await store.prune()
                    if removed > 0 {
                        logger.debug("store pruned", metadata: ["ids": "\(removed)"])
                    }
                } catch {
                    logger.error("store pruning failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
