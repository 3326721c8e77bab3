/// A configuration mistake, said in one line (`serve` prints it and exits 1).
public struct ConfigurationError: Error, CustomStringConvertible {
    /// The one line.
    public let description: String
    /// An error with this one-line message.
    public init(_ description: String) { self.description = description }
}
