import ArgumentParser
import Foundation
import OkraHTTP
import OkraIngest
import OkraOperations

/// A usage error: the command line or the environment alone is wrong (an unknown flag, a value
/// that does not parse or is out of range, flags that contradict each other). Exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The work failed: a file named by a flag is missing, unreadable or invalid; Kafka, the store,
/// the lock or the admin API failed. Exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The one exit-code rule (§7), applied in `OkraBridgeCommand.main` to whatever a command threw:
/// 0 for `--help` and `--version`, 2 for a ``UsageError`` or a command line the argument parser
/// refused, 1 for everything else. Library errors say what was wrong; here the flag is named.
enum ExitStatus {
    /// The status and the lines to print on standard error for `error`.
    static func of(_ error: any Error) -> (status: Int32, message: String) {
        switch error {
        case let usage as UsageError: return (2, "okra-bridge: \(usage.description)")
        case let work as UserError: return (1, "okra-bridge: \(work.description)")
        case let setup as SetupError: return of(setup.commandLineError)
        case let taken as ListenerAddressInUse:
            return (1, "okra-bridge: \(taken.listener == "admin" ? "--admin-listen" : "--listen") \(taken.description)")
        default:
            let code = OkraBridgeCommand.exitCode(for: error)
            let message = OkraBridgeCommand.fullMessage(for: error)
            if code == .success { return (0, message) }
            // The argument parser's own usage errors (64 by its convention) are 2 here.
            if code == .validationFailure || code.rawValue == 64 { return (2, message) }
            if error is ExitCode { return (code.rawValue, message) }
            return (1, "okra-bridge: \(error)")
        }
    }

    /// Prints `error`'s lines (each with its control characters escaped: a message can quote
    /// what a server or a payload sent) and exits with its status.
    static func exit(for error: any Error) -> Never {
        let (status, message) = of(error)
        if status == 0 {
            print(message)
        } else if !message.isEmpty {
            let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map { TerminalText.escaped(String($0)) }
            FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        Foundation.exit(status)
    }
}

extension SetupError {
    /// The error with the flag it came from: a value on the command line is a usage error, a
    /// token file that cannot be read or used a failed run.
    var commandLineError: any Error {
        switch self {
        case .badToken: UsageError("--token \(description)")
        case .unreadableTokenFile, .badTokenFile: UserError("--token-file \(description)")
        case .noSender: UsageError("no --token given: pass --token-file (or --token production=SECRET), or --allow-unauthenticated to accept any sender")
        case .unauthenticatedWithTokens: UsageError("--allow-unauthenticated cannot be combined with --token or --token-file: with tokens every request must carry one")
        case .badAllowedAddress: UsageError("--allow-ip \(description)")
        case .badProxyAddress: UsageError("--trusted-proxy \(description)")
        }
    }
}

extension Error {
    /// A library's ``SetupError`` with its flag named; anything else as it is.
    var commandLineError: any Error { (self as? SetupError)?.commandLineError ?? self }
}
