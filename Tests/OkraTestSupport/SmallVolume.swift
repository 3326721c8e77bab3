import Foundation

/// A tmpfs of a test's own, for what happens when a volume fills: mounted for the body and
/// removed afterwards. Mounting needs root, which CI has.
public enum SmallVolume {
    /// Why no volume could be mounted.
    public struct Unavailable: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// Runs `body` with the mount point of a fresh `megabytes` MiB tmpfs.
    public static func with<T>(megabytes: Int, _ body: (URL) async throws -> T) async throws -> T {
        guard getuid() == 0 else { throw Unavailable(description: "not root: cannot mount a tmpfs") }
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("okra-volume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        guard system("mount -t tmpfs -o size=\(megabytes)m tmpfs '\(mountPoint.path)'") == 0 else {
            throw Unavailable(description: "cannot mount a \(megabytes) MiB tmpfs at \(mountPoint.path)")
        }
        defer {
            _ = system("umount -l '\(mountPoint.path)'")
            try? FileManager.default.removeItem(at: mountPoint)
        }
        return try await body(mountPoint)
    }

    /// Fills what is left of the volume holding `directory` with one file, leaving about
    /// `leaving` bytes free; the file's path.
    @discardableResult
    public static func fill(_ directory: URL, leaving: Int = 0) throws -> String {
        let path = directory.appendingPathComponent("filler").path
        guard let file = fopen(path, "w") else { throw Unavailable(description: "cannot create \(path)") }
        defer { fclose(file) }
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { throw Unavailable(description: "statvfs \(directory.path)") }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        let chunk = [UInt8](repeating: 0xA5, count: 4096)
        var left = max(0, free - leaving)
        while left > 0 {
            let written = fwrite(chunk, 1, min(chunk.count, left), file)
            if written == 0 { break }
            left -= written
        }
        fflush(file)
        return path
    }
}
