import Hummingbird
import NIOCore

/// `GET /console` and its script and stylesheet, on the admin listener only. The page is served
/// whatever the operations API's state: once signed in it asks the API and says why it is off.
enum ConsoleRoutes {
    static let paths = ["/console": "GET, HEAD", "/console/console.js": "GET, HEAD", "/console/console.css": "GET, HEAD", "/console/icon.svg": "GET, HEAD"]

    /// The tab's icon (without one a browser asks for /favicon.ico and logs the 404).
    static let icon = ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f5fbf"/><path d="M4 8h8M9 5l3 3-3 3" stroke="#fff" stroke-width="2" fill="none"/></svg>"##

    static func add(to router: Router<BridgeRequestContext>) {
        serve(router, "/console", ConsolePage.html, type: "text/html; charset=utf-8")
        serve(router, "/console/console.js", ConsoleScript.js, type: "text/javascript; charset=utf-8")
        serve(router, "/console/console.css", ConsoleStyle.css, type: "text/css; charset=utf-8")
        serve(router, "/console/icon.svg", icon, type: "image/svg+xml")
    }

    private static func serve(_ router: Router<BridgeRequestContext>, _ path: RouterPath, _ text: String, type: String) {
        let handler: @Sendable (Request, BridgeRequestContext) async throws -> Response = { _, _ in
            Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get(path, use: handler)
        router.head(path, use: handler)
    }
}

/// The headers of every admin answer: a Content-Security-Policy that lets the console run only
/// its own script and style and talk only to this listener, no sniffing, no referrer. The API's
/// JSON is never a document a browser would render, and these keep it so.
struct AdminHeadersMiddleware: RouterMiddleware {
    typealias Context = BridgeRequestContext

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
