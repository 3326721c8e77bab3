#if canImport(Glibc)
import Glibc
#endif
import ServiceLifecycle

/// Gives the heap's free memory back to the system once a minute.
///
/// glibc's malloc keeps what the bridge frees in its arenas (one per thread that allocated,
/// up to eight a core) and returns only the free tail of each above a threshold that grows with
/// the largest block freed. Under load the bridge's anonymous memory therefore rose in steps that
/// were the allocator's high-water marks, not live data: `malloc_trim(0)` after a four-minute run
/// took 10.7 MiB of 23.7 back (docs/benchmarks.md, "Memory over ten minutes"). A pass releases the
/// free pages inside every arena too, holding each arena's lock for the while; once a minute it
/// costs a few milliseconds.
public struct HeapTrimmer: Service {
    private let interval: Duration

    /// Trims every `interval`.
    public init(interval: Duration = .seconds(60)) {
        self.interval = interval
    }

    /// Trims until graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if !Task.isCancelled { Self.trim() }
            }
        }
    }

    /// glibc's `malloc_trim`, looked up at run time: Swift's Glibc module does not declare it,
    /// and a C library other than glibc may not have it (then trimming does nothing).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// Returns the heap's free pages to the system now; whether any were.
    @discardableResult
    public static func trim() -> Bool {
        mallocTrim?(0) == 1
    }
}
