import ArgumentParser
import OkraEnvelope
import OkraKafka
import OkraStore

/// The bridge's own version. Raised by hand with each release; the commit is written at build time.
enum BridgeVersion {
    static let version = "0.1.0"
    /// The commit the binary was built from (`Plugins/BuildCommit`): `unknown` without git.
    static var commit: String { BuildCommit.value }

    /// What `version` prints and `serve` logs once at start.
    static var parts: [(name: String, value: String)] {
        [("okra-bridge", version), ("commit", commit), ("librdkafka", KafkaLibrary.version),
         ("librdkafka.builtin.features", KafkaLibrary.builtinFeatures), ("sqlite", SQLiteLibrary.version)]
    }
}

/// `okra-bridge version`: what this binary is and what it runs on (§7).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the bridge's version and commit, and the librdkafka and SQLite it loaded.",
        discussion: "librdkafka is a shared library: the version printed is the one loaded now (LD_LIBRARY_PATH can put a newer one first), with the features it was built with (ssl, sasl_scram, sasl_oauthbearer, ...)."
    )

    @Flag(help: "One JSON object instead of lines.") var json = false

    func run() {
        let parts = BridgeVersion.parts
        if json {
            var out: [UInt8] = [UInt8(ascii: "{")]
            for (index, part) in parts.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(part.name, into: &out)
                out.append(UInt8(ascii: ":"))
                JSONWriter.writeString(part.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
            print(String(decoding: out, as: UTF8.self))
        } else {
            print("okra-bridge \(BridgeVersion.version) (commit \(BridgeVersion.commit))")
            print("librdkafka \(KafkaLibrary.version) (builtin.features: \(KafkaLibrary.builtinFeatures))")
            print("SQLite \(SQLiteLibrary.version)")
        }
    }
}
