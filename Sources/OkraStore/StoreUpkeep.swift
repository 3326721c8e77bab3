import CoreMetrics
import Logging
import ServiceLifecycle

/// The store's upkeep, apart from publishing: every second a volume found full checked for room
/// (so readiness follows it with no webhook coming), its gauges (outbox depth and oldest age,
/// WAL size, parked records, a full volume), failed checkpoints, the reserve file made again once
/// the volume has room, and the event log pruned back to `--retain-size`; every `pruneInterval`
/// the ids older than the dedupe window and the event log past its retention pruned.
public struct StoreUpkeep: Service {
    private let store: OutboxStore
    private let logger: Logger
    private let pruneInterval: Duration
    private let depth: Gauge
    private let oldestAge: Gauge
    private let walBytes: Gauge
    private let parked: Gauge
    private let volumeFull: Gauge
    private let storeBytes: Gauge
    private let logBytes: Gauge
    private let volumeUsed: Gauge
    private let volumeFree: Gauge
    private let checkpointFailures: Counter
    private let checkpointFailing: Gauge

    /// Upkeep of `store`, pruning every `pruneInterval`.
    public init(store: OutboxStore, logger: Logger, pruneInterval: Duration = .seconds(60), metrics: MetricsFactory = MetricsSystem.factory) {
        self.store = store
        self.logger = logger
        self.pruneInterval = pruneInterval
        depth = Gauge(label: "okra_bridge_outbox_depth", factory: metrics)
        oldestAge = Gauge(label: "okra_bridge_outbox_oldest_age_seconds", factory: metrics)
        walBytes = Gauge(label: "okra_bridge_store_wal_bytes", factory: metrics)
        parked = Gauge(label: "okra_bridge_parked_records", factory: metrics)
        volumeFull = Gauge(label: "okra_bridge_store_volume_full", factory: metrics)
        storeBytes = Gauge(label: "okra_bridge_store_bytes", factory: metrics)
        logBytes = Gauge(label: "okra_bridge_event_log_bytes", factory: metrics)
        volumeUsed = Gauge(label: "okra_bridge_store_volume_used_bytes", factory: metrics)
        volumeFree = Gauge(label: "okra_bridge_store_volume_free_bytes", factory: metrics)
        checkpointFailures = Counter(label: "okra_bridge_store_checkpoint_failures_total", factory: metrics)
        checkpointFailing = Gauge(label: "okra_bridge_store_checkpoint_failing", factory: metrics)
    }

    /// Keeps up until graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            var lastPrune = ContinuousClock.now
            var sizePruneFailing = false
            var checkpoints = OutboxStore.CheckpointFailures()
            while !Task.isCancelled {
                await store.recheckRoom()
                await recordGauges()
                checkpoints = await noteCheckpoints(since: checkpoints)
                store.maintainReserve()
                await finishErasures()
                sizePruneFailing = await pruneLogToSize(failing: sizePruneFailing)
                if ContinuousClock.now - lastPrune >= pruneInterval {
                    lastPrune = .now
                    await prune()
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The gauges, from the store as it is now.
    func recordGauges() async {
        let status = await store.status()
        if let outbox = status.outbox {
            depth.record(outbox.depth)
            oldestAge.record(outbox.oldestAgeSeconds)
        }
        walBytes.record(status.walBytes)
        parked.record(status.parked)
        volumeFull.record(status.volumeFull ? 1 : 0)
        storeBytes.record(status.storeBytes)
        logBytes.record(status.eventLogBytes)
        if let usage = status.volume {
            volumeUsed.record(usage.used)
            volumeFree.record(usage.free)
        }
    }

    /// Counts the checkpoints that failed since `last` (the previous second's state) and
    /// records whether the last one failed. Logs when failing begins (or a failure came and went
    /// within the second) and when a checkpoint succeeds again, not every second in between.
    func noteCheckpoints(since last: OutboxStore.CheckpointFailures) async -> OutboxStore.CheckpointFailures {
        let now = await store.checkpointFailures
        checkpointFailing.record(now.failing ? 1 : 0)
        let began = now.count > last.count && !last.failing
        if now.count > last.count { checkpointFailures.increment(by: Int64(now.count - last.count)) }
        if began {
            logger.error("a WAL checkpoint failed; the WAL grows until one succeeds",
                         metadata: ["error": "\(now.lastError ?? "")", "checkpoint.failures": "\(now.count)"])
        }
        if !now.failing && (last.failing || began) {
            logger.notice("WAL checkpoints succeed again", metadata: ["checkpoint.failures": "\(now.count)"])
        }
        return now
    }

    /// Erasures that waited for delivery, once it came.
    private func finishErasures() async {
        do {
            let removed = try await store.finishErasures()
            if removed > 0 { logger.notice("waiting erasures went on: entries erased", metadata: ["entries.erased": "\(removed)"]) }
        } catch {
            logger.warning("erasure could not go on; tried again in a second", metadata: ["error": "\(error)"])
        }
    }

    /// The event log back under `--retain-size`, every second; whether it failed. A failure is
    /// logged when it begins and when it ends, not every second while it lasts.
    private func pruneLogToSize(failing: Bool) async -> Bool {
        do {
            try await store.pruneLogToSize()
            if failing { logger.notice("the event log is pruned to --retain-size again") }
            return false
        } catch {
            if !failing { logger.error("pruning the event log to --retain-size failed; tried again every second", metadata: ["error": "\(error)"]) }
            return true
        }
    }

    private func prune() async {
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
