import Foundation

/// A folder laid out the way the kubelet writes a ConfigMap or Secret volume, and updated the
/// way it updates one: each file is a symlink `name -> ..data/name`, `..data` is a symlink to a
/// hidden timestamped folder holding the real files, and an update writes a new timestamped
/// folder, points a temporary `..data_tmp` symlink at it, renames that over `..data` (one atomic
/// step) and deletes the old folder. The files themselves are never written in place, so a
/// reader that watched a file's own inode or modification time would miss the update.
public final class ProjectedVolume: @unchecked Sendable {
    /// The mounted folder.
    public let url: URL
    private var generation = 0
    private var current: String?

    /// A volume holding `files` (name to content).
    public init(files: [String: String]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("okra-volume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try update(files: files)
        for name in files.keys {
            try FileManager.default.createSymbolicLink(atPath: url.appendingPathComponent(name).path, withDestinationPath: "..data/\(name)")
        }
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path a program is given: the visible symlink of `name`.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Swaps in new contents as the kubelet does (the names must be the ones of `init`).
    public func update(files: [String: String]) throws {
        generation += 1
        let folder = "..2026_12_01_00_00_\(String(format: "%02d", generation)).\(UUID().uuidString.prefix(8))"
        let folderURL = url.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: folderURL, withIntermediateDirectories: false)
        for (name, content) in files {
            try Data(content.utf8).write(to: folderURL.appendingPathComponent(name))
        }
        let temporary = url.appendingPathComponent("..data_tmp").path
        try FileManager.default.createSymbolicLink(atPath: temporary, withDestinationPath: folder)
        guard rename(temporary, url.appendingPathComponent("..data").path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        if let current { try FileManager.default.removeItem(at: url.appendingPathComponent(current)) }
        current = folder
    }
}
