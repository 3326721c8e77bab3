import Foundation
#if canImport(Glibc)
import Glibc
#endif
import OkraIngest
import Testing

/// The heap trimmer against glibc's real malloc, read from /proc.
@Suite("Heap trimmer")
struct HeapTrimmerTests {
    /// The process's anonymous resident memory (`RssAnon` in /proc/self/status), in bytes.
    static func rssAnon() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return kilobytes * 1024
    }

    #if canImport(Glibc)
    @Test("a trim gives back the free memory between live blocks, which free() alone keeps")
    func trimReturnsFreedMemory() throws {
        // 64 MiB in 4 KiB blocks, every sixteenth kept: what is freed lies between live blocks,
        // where malloc never returns it by itself.
        let blocks = (0..<16_384).map { _ -> UnsafeMutableRawPointer in
            let block = malloc(4096)!
            memset(block, 0x5A, 4096)
            return block
        }
        defer { for (index, block) in blocks.enumerated() where index % 16 == 15 { free(block) } }
        for (index, block) in blocks.enumerated() where index % 16 != 15 { free(block) }
        let before = try Self.rssAnon()
        HeapTrimmer.trim()
        let after = try Self.rssAnon()
        // 60 MiB freed; other tests allocate beside this one, so half of it is the bar.
        #expect(before - after > 32 << 20, "RssAnon \(before >> 20) MiB before the trim, \(after >> 20) MiB after")
    }
    #endif
}
