import Foundation
import GRDB
import Synchronization

/// Keeps a full data volume from stopping the bridge for good.
///
/// New events are taken only while the volume has room for more than `reserveBytes` (free space,
/// plus pages free inside the database file): the last `reserveBytes` are the publisher's, whose
/// marks and checkpoints are what free space. Below that the store answers 503 and is not ready,
/// and takes events again once draining made room. A reserve file of the same size sits beside
/// the store for a volume that something else fills: when a write fails because the volume is
/// full, the file is deleted, and a store that cannot be opened on a full volume deletes it and
/// opens. With `reserveBytes` 0 there is no threshold: a write failing full stops new events, and
/// one a second is tried as a probe once the outbox has shrunk.
final class VolumeGuard: Sendable {
    private struct State {
        var full = false
        /// Unpublished records when the volume was found full: a probe is tried only once the
        /// publisher has taken some out (their pages are free inside the file again).
        var pendingWhenFull = Int.max
        var lastProbe = ContinuousClock.now - .seconds(3600)
    }

    /// The reserve file's path.
    let reservePath: String
    /// Its size; 0 keeps no reserve.
    let reserveBytes: Int
    private let state = Mutex(State())
    /// The store's directory, held open: the free space, read for every submission while a
    /// reserve is kept, comes from it without a path lookup each time.
    private let directoryDescriptor: Int32
    private let freeSpace: (@Sendable () -> Int?)?

    /// `freeSpace` replaces the volume's free space as read from the directory (tests only).
    init(directory: String, reserveBytes: Int, freeSpace: (@Sendable () -> Int?)? = nil) {
        reservePath = (directory as NSString).appendingPathComponent("okra-bridge.reserve")
        self.reserveBytes = reserveBytes
        self.freeSpace = freeSpace
        directoryDescriptor = freeSpace == nil ? open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1
    }

    deinit {
        if directoryDescriptor >= 0 { close(directoryDescriptor) }
    }

    /// Bytes available to this process on the store's volume; nil when that cannot be read.
    /// The volume's size and its free bytes for unprivileged writers (statvfs), or nil.
    func usage() -> (total: Int, free: Int)? {
        var stats = statvfs()
        guard directoryDescriptor >= 0, fstatvfs(directoryDescriptor, &stats) == 0 else { return nil }
        let free = freeSpace?() ?? Int(stats.f_bavail) * Int(stats.f_frsize)
        return (Int(stats.f_blocks) * Int(stats.f_frsize), free)
    }

    func availableBytes() -> Int? {
        if let freeSpace { return freeSpace() }
        var stats = statvfs()
        guard directoryDescriptor >= 0, fstatvfs(directoryDescriptor, &stats) == 0 else { return nil }
        return Int(stats.f_bavail) * Int(stats.f_frsize)
    }

    /// Whether the volume was found full and no write has succeeded since.
    var isFull: Bool { state.withLock { $0.full } }

    /// Whether a new event may be written now: always while not full; while full, one a second
    /// (a probe), once `pending` is below what it was when the volume filled.
    func admit(pending: Int, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            guard state.full else { return true }
            guard pending < state.pendingWhenFull, now - state.lastProbe >= .seconds(1) else { return false }
            state.lastProbe = now
            return true
        }
    }

    /// A write failed; when because the volume is full, the store stops taking events and the
    /// reserve is released for the writes that free space.
    func writeFailed(_ error: any Error, pending: Int) {
        guard Self.isVolumeFull(error) else { return }
        state.withLock { state in
            if !state.full { state.pendingWhenFull = pending }
            state.full = true
        }
        releaseReserve()
    }

    /// A write of new events succeeded: the volume has room again.
    func written() {
        let wasFull = state.withLock { state -> Bool in
            defer { state.full = false }
            return state.full
        }
        if wasFull { ensureReserve() }
    }

    /// The volume has less room than the reserve: new events wait (the room is the publisher's).
    func noRoom(pending: Int) {
        state.withLock { state in
            if !state.full { state.pendingWhenFull = pending }
            state.full = true
        }
    }

    /// The volume has room again (at least the reserve, counting pages free inside the file).
    func room() {
        state.withLock { $0.full = false }
    }

    /// Marks the volume full (the store could only be opened by releasing the reserve).
    func openedFull(pending: Int) {
        state.withLock { state in
            state.full = true
            state.pendingWhenFull = pending
        }
    }

    /// Makes the reserve file when it is missing and the volume has room for it and a margin.
    func ensureReserve() {
        guard reserveBytes > 0 else { return }
        let existing = (try? FileManager.default.attributesOfItem(atPath: reservePath)[.size] as? Int) ?? nil
        guard existing != reserveBytes else { return }
        guard let free = availableBytes(), free >= reserveBytes * 2 else { return }
        let fd = open(reservePath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // Real blocks, not a sparse file: zeros written, then synced.
        let chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var written = 0
        while written < reserveBytes {
            let count = min(chunk.count, reserveBytes - written)
            let result = chunk.withUnsafeBytes { write(fd, $0.baseAddress, count) }
            guard result > 0 else {
                unlink(reservePath)
                return
            }
            written += result
        }
        _ = fsync(fd)
    }

    /// Deletes the reserve file, giving its space back to the volume.
    func releaseReserve() {
        unlink(reservePath)
    }

    /// Whether `error` says the volume (or the database) is full.
    static func isVolumeFull(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_FULL
    }
}
