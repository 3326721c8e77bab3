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
        subcommands: [ServeCommand.self, NormalizeCommand.self, RouteCommand.self, RoutesCommand.self, TailCommand.self, EventsCommand.self, ParkedCommand.self, OkraCommand.self]
    )

    /// Runs the chosen subcommand. Usage errors exit 2 (the contract's §7), not
    /// swift-argument-parser's 64; user errors exit 1 from the subcommands themselves.
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
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// A usage error found after parsing (a flag's value that the bridge refuses): one line on
/// stderr, exit status 2 (the contract's §7).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    /// Prints the line and exits 2.
    func exit() -> Never {
        // A message can quote what a server or a payload sent: no control character reaches the terminal.
        FileHandle.standardError.write(Data("okra-bridge: \(TerminalText.escaped(description))\n".utf8))
        Foundation.exit(2)
    }
}

/// A user error: one line on stderr, exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension ParsableCommand {
    /// Prints `error` as one line on stderr and exits 1.
    func fail(_ error: UserError) -> Never {
        FileHandle.standardError.write(Data("okra-bridge: \(TerminalText.escaped(error.description))\n".utf8))
        Foundation.exit(1)
    }

    /// The bytes of FILE, or of standard input for `-` or no file.
    func readInput(_ path: String?) -> [UInt8] {
        guard let path, path != "-" else {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            fail(UserError("cannot read \(path): no such file or not readable"))
        }
        return Array(data)
    }
}
