import ArgumentParser
import Foundation
import OkraOperations
import OkraEnvelope

/// `okra-bridge`: one executable, one subcommand per job (the contract's §7).
@main
struct OkraBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "okra-bridge",
        abstract: "Turns Okra's webhooks into CloudEvents on Kafka.",
        subcommands: [ServeCommand.self, NormalizeCommand.self, RouteCommand.self, RoutesCommand.self, TailCommand.self, EventsCommand.self, ParkedCommand.self, AuditCommand.self, OkraCommand.self, TopicsCommand.self, CheckCommand.self, VersionCommand.self]
    )

    /// Runs the chosen subcommand; whatever it throws is turned into one exit status and one
    /// message by ``ExitStatus`` (the contract's §7), here and nowhere else.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if command is ServeCommand {
                // SIGHUP reloads the routes once the reloader traps it; until then (opening the
                // store, building the services) its default action would end the process.
                signal(SIGHUP, SIG_IGN)
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            ExitStatus.exit(for: error)
        }
    }
}

extension ParsableCommand {
    /// The bytes of FILE, or of standard input for `-` or no file.
    func readInput(_ path: String?) throws(UserError) -> [UInt8] {
        guard let path, path != "-" else {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("cannot read \(path): no such file or not readable")
        }
        return Array(data)
    }
}
