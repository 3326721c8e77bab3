import Hummingbird
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// A listener's address is taken by another process.
public struct ListenerAddressInUse: Error, CustomStringConvertible {
    /// Which listener (`ingest` or `admin`).
    public let listener: String
    /// `host:port`.
    public let address: String
    /// One line, without the flag's name (the executable adds it).
    public var description: String { "\(address): the address is already in use; stop what listens there or choose another port" }
}

/// An HTTP listener that says which of the bridge's listeners could not bind, and where.
public struct Listener<App: Service>: Service {
    private let app: App
    private let name: String
    private let address: String

    /// `app`, the listener `name` (`ingest`, `admin`) on `address`.
    public init(app: App, name: String, address: String) {
        self.app = app
        self.name = name
        self.address = address
    }

    /// Serves until graceful shutdown; a taken address is ``ListenerAddressInUse``.
    public func run() async throws {
        do {
            try await app.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ListenerAddressInUse(listener: name, address: address)
        }
    }
}
