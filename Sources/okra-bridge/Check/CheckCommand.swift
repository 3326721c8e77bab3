import ArgumentParser
import Foundation
import Logging
import OkraEnvelope
import OkraKafka
import OkraOperations
import OkraRouting

/// `okra-bridge check`: a preflight with `serve`'s own flags and files (§7). One line per check
/// (ok, warning or failed, with what to do); exit 0 when nothing failed, 1 otherwise.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check what serve would run with: routes, tokens, data directory, Kafka and its topics.",
        discussion: """
        Takes serve's flags and OKRA_BRIDGE_* variables. Checks, in order: the routes file; the token \
        file and the admin token file; the log key file (and that it holds every key the store uses); the data directory (writable, free space above --store-reserve, \
        not locked by a running bridge); Kafka reachable with the given security settings; the \
        idempotent producer given a producer id (InitProducerId, which needs the IdempotentWrite ACL on \
        brokers before 2.8); every topic the routes can produce present, or the cluster creating topics \
        on use; and, with --probe-topic, one test record delivered to that topic. Exit 0 when nothing \
        failed (warnings allowed), 1 otherwise.
        """
    )

    @OptionGroup var options: ServeOptions
    @Option(help: "A topic to produce one test record to (a header okra-bridge-check marks it).") var probeTopic: String?
    @Flag(help: "One JSON object per check instead of aligned lines.") var json = false
    @Option(help: "How long to wait for Kafka at each step, in seconds.") var kafkaTimeout: Int = 10

    func run() async throws {
        let configuration = try options.resolve(environment: ProcessInfo.processInfo.environment)
        var report = CheckReport(json: json)
        let preflight = Preflight(configuration: configuration, timeout: .seconds(kafkaTimeout), logger: .quiet)
        report.add(preflight.routes())
        report.add(preflight.tokens())
        report.add(preflight.adminToken())
        report.add(preflight.logKey())
        report.add(preflight.dataDirectory())
        for result in await preflight.kafka(probeTopic: probeTopic) { report.add(result) }
        // Every failure was said on its own line.
        if report.failed > 0 { throw ExitCode.failure }
    }
}

/// One check's outcome.
struct CheckResult {
    enum Status: String { case ok, warning, failed }
    let name: String
    let status: Status
    /// What was found, and for a warning or a failure what to do.
    let detail: String

    static func ok(_ name: String, _ detail: String) -> CheckResult { CheckResult(name: name, status: .ok, detail: detail) }
    static func warning(_ name: String, _ detail: String) -> CheckResult { CheckResult(name: name, status: .warning, detail: detail) }
    static func failed(_ name: String, _ detail: String) -> CheckResult { CheckResult(name: name, status: .failed, detail: detail) }
}

/// Prints each result as it comes: aligned text, or JSON lines.
struct CheckReport {
    let json: Bool
    private(set) var failed = 0

    mutating func add(_ result: CheckResult) {
        if result.status == .failed { failed += 1 }
        if json {
            var out: [UInt8] = Array(#"{"check":"#.utf8)
            JSONWriter.writeString(result.name, into: &out)
            out += Array(#","status":"\#(result.status.rawValue)","detail":"#.utf8)
            JSONWriter.writeString(result.detail, into: &out)
            out.append(UInt8(ascii: "}"))
            let line = TerminalText.escapingJSON(String(decoding: out, as: UTF8.self)) + "\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        } else {
            // Unbuffered: the Kafka checks take seconds, and each line shows as it is known.
            let status = result.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            let line = "\(status)\(result.name.padding(toLength: 20, withPad: " ", startingAt: 0))\(TerminalText.escaped(result.detail))\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
