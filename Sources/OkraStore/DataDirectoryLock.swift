import Foundation

/// An exclusive lock on a data directory, held for the life of the process that took it: two
/// bridges on one store would each publish and delete the other's acknowledged records.
///
/// The lock is `flock(2)` on `okra-bridge.lock` in the directory, so the kernel releases it
/// when the holder exits, however it exits (no stale lock after a crash or SIGKILL). The file
/// holds the holder's pid, read only to name it in the refusal.
public final class DataDirectoryLock: Sendable {
    /// Another process holds the directory.
    public struct Held: Error, CustomStringConvertible {
        /// The data directory.
        public let directory: String
        /// The holder's pid as it wrote it (nil when the file did not say).
        public let pid: Int32?
        /// One line saying so.
        public var description: String {
            "\(directory) is in use by another okra-bridge (pid \(pid.map(String.init) ?? "unknown")): one process per data directory"
        }
    }

    /// The lock file could not be made or locked (not the lock being held).
    public struct Unavailable: Error, CustomStringConvertible {
        /// The lock file.
        public let path: String
        /// `strerror` of the failure.
        public let reason: String
        /// One line saying so.
        public var description: String { "cannot lock \(path): \(reason)" }
    }

    /// The lock file's name inside the data directory.
    public static let fileName = "okra-bridge.lock"

    private let descriptor: Int32

    /// Takes the lock on `directory` (made if missing), without waiting.
    /// - Throws: ``Held`` when another process holds it, ``Unavailable`` when it cannot be taken.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Unavailable(path: path, reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.readPID(descriptor)
            close(descriptor)
            if failure == EWOULDBLOCK { throw Held(directory: directory, pid: holder) }
            throw Unavailable(path: path, reason: String(cString: strerror(failure)))
        }
        // The pid is for the message only; a failure to write it does not matter.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Whether a running bridge holds `directory`'s lock, found without taking it or creating
    /// anything (for `okra-bridge check`): the holder's pid when it wrote one, nil when not held.
    /// - Throws: ``Held`` when it is held (with the pid, if known).
    public static func checkNotHeld(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(fileName)
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return } // no lock file: no bridge has run here
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_SH | LOCK_NB) == 0 else {
            if errno == EWOULDBLOCK { throw Held(directory: directory, pid: readPID(descriptor)) }
            return
        }
        flock(descriptor, LOCK_UN)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
