/// Why the pipeline cannot be set up as given: what was wrong, in the pipeline's words. The
/// executable names the flag or variable it came from and decides the exit status (§7): a value
/// on the command line that cannot be used is a usage error (2), a file that cannot be read or
/// used is a failed run (1).
public enum SetupError: Error, Equatable, CustomStringConvertible {
    /// A token pair that is not `ENV=SECRET` with a secret of 16 characters or more.
    case badToken(String)
    /// A token file that cannot be read.
    case unreadableTokenFile(path: String)
    /// A token file with bad lines (each problem names its line, never a secret).
    case badTokenFile(problems: [String])
    /// No token and no `allowUnauthenticated`: every sender would be refused.
    case noSender
    /// Tokens together with `allowUnauthenticated`: which is meant is unclear.
    case unauthenticatedWithTokens
    /// An allowed sender that is not an address, a CIDR range or `okra`.
    case badAllowedAddress(String)
    /// A trusted proxy that is not an address or a CIDR range.
    case badProxyAddress(String)

    /// One line, without the flag's name (the executable adds it).
    public var description: String {
        switch self {
        case .badToken(let problem): problem
        case .unreadableTokenFile(let path): "\(path): cannot read the file (missing or not readable)"
        case .badTokenFile(let problems): problems.joined(separator: "; ")
        case .noSender: "no token given, and unauthenticated senders not allowed: every webhook would be refused"
        case .unauthenticatedWithTokens: "unauthenticated senders cannot be allowed together with tokens: with tokens every request must carry one"
        case .badAllowedAddress(let entry): "\(entry): not an IP address, a CIDR range or 'okra'"
        case .badProxyAddress(let entry): "\(entry): not an IP address or CIDR range"
        }
    }
}
