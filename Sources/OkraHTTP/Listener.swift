import Hummingbird
import NIOCore
import OkraIngest
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP listener that names its flag when its address is taken.
public struct Listener<App: Service>: Service {
    private let app: App
    private let flag: String
    private let address: String

    /// `app`, listening on `address` as configured by `flag`.
    public init(app: App, flag: String, address: String) {
        self.app = app
        self.flag = flag
        self.address = address
    }

    /// Serves until graceful shutdown; a taken address is one line naming the flag.
    public func run() async throws {
        do {
            try await app.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ConfigurationError("\(flag) \(address): the address is already in use; stop what listens there or choose another port")
        }
    }
}
